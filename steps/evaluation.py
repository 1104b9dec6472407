from typing import Annotated

import mlflow
from zenml import log_metadata, step

from fastdistill import evaluation
from fastdistill.artifacts import ModelDirectory
from fastdistill.config import EvaluationConfig, TeacherConfig
from fastdistill.models import resolve_model
from fastdistill.teacher import HFBackend
from fastdistill.topk import TeacherOutputs


@step(experiment_tracker=True)
def evaluate(
    student_model: ModelDirectory,
    teacher_outputs: TeacherOutputs,
    evaluation_config: EvaluationConfig,
    teacher_config: TeacherConfig,
) -> tuple[Annotated[dict, "eval_metrics"], Annotated[list, "eval_samples"]]:
    """Score the student on the held-out split against references and the teacher, and time both."""
    student = HFBackend(student_model.path)
    teacher = HFBackend(resolve_model(teacher_config.model))  # same prompts and settings: comparable tokens/s
    result = evaluation.evaluate_student(student, teacher_outputs, evaluation_config, teacher)
    mlflow.log_metrics(result.metrics)
    mlflow.log_dict({"samples": result.samples}, "evaluation/samples.json")
    log_metadata(result.metrics)
    return result.metrics, result.samples
