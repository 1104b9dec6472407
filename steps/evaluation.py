from typing import Annotated

import mlflow
from zenml import log_metadata, step

from fastdistill.config import EvaluationConfig, TeacherConfig
from fastdistill.evaluation.catalog import grouped
from fastdistill.evaluation.suite import EvalMetrics, Sample, evaluate_student
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.models import resolve_model
from fastdistill.models.directory import ModelDirectory
from fastdistill.reporting.summary import DETAILS_ARTIFACT


@step(experiment_tracker=True)
def evaluate(
    student_model: ModelDirectory,
    teacher_outputs: TeacherOutputs,
    evaluation_config: EvaluationConfig,
    teacher_config: TeacherConfig,
) -> tuple[Annotated[EvalMetrics, "eval_metrics"], Annotated[list[Sample], "eval_samples"]]:
    """Score the student on the held-out split: quality, fidelity, calibration, diversity, exposure bias, judge,
    efficiency and speculative decoding, against the teacher on the same prompts and settings."""
    student = HFBackend(student_model.path)
    teacher_dir = resolve_model(teacher_config.model)
    teacher = HFBackend(teacher_dir)
    judge = teacher if evaluation_config.judge_model is None else HFBackend(resolve_model(evaluation_config.judge_model))
    result = evaluate_student(student, teacher_outputs, evaluation_config, teacher, judge,
                              student_dir=student_model.path, teacher_dir=teacher_dir)
    mlflow.log_metrics(result.metrics)
    mlflow.log_dict({"samples": [sample.model_dump() for sample in result.samples]}, "evaluation/samples.json")
    mlflow.log_dict(result.details, DETAILS_ARTIFACT)
    log_metadata({group: members for group, members in grouped(result.metrics).items()})
    return EvalMetrics(values=result.metrics), result.samples
