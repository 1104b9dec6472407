"""ZenML materializers for FastDistill's own artifact types.

Importing this package registers them with ZenML's materializer registry.
"""

from materializers.gate_report import GateReportMaterializer
from materializers.model_directory import ModelDirectoryMaterializer
from materializers.prompt_dataset import PromptDatasetMaterializer
from materializers.teacher_outputs import TeacherOutputsMaterializer

__all__ = ["GateReportMaterializer", "ModelDirectoryMaterializer", "PromptDatasetMaterializer", "TeacherOutputsMaterializer"]
