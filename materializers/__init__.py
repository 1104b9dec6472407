"""ZenML materializers for FastDistill's own artifact types.

Importing this package registers them with ZenML's materializer registry.
"""

from materializers.model_directory import ModelDirectoryMaterializer
from materializers.teacher_outputs import TeacherOutputsMaterializer

__all__ = ["ModelDirectoryMaterializer", "TeacherOutputsMaterializer"]
