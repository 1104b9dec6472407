from typing import Annotated

import mlflow
from zenml import log_metadata, step

from fastdistill.config import EvaluationConfig, TeacherConfig
from fastdistill.data.splits import TEST, content_sha256
from fastdistill.evaluation.judge import judge_for
from fastdistill.evaluation.suite import EvalMetrics, Sample, evaluate_student, held_out
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.models import resolve_model
from fastdistill.models.directory import ModelDirectory, weights_sha256
from fastdistill.reporting.summary import DETAILS_ARTIFACT, SCORES_ARTIFACT


@step(experiment_tracker=True)
def evaluate(
    student_model: ModelDirectory,
    teacher_outputs: TeacherOutputs,
    evaluation_config: EvaluationConfig,
    teacher_config: TeacherConfig,
) -> tuple[Annotated[EvalMetrics, "eval_metrics"], Annotated[list[Sample], "eval_samples"]]:
    """Score the student on the test split: quality, fidelity, calibration, diversity, exposure bias, judge,
    efficiency and speculative decoding, against the teacher on the same prompts and settings; every per-example
    metric with its n and bootstrap CI, and the health checks."""
    student = HFBackend(student_model.path)
    teacher_dir = resolve_model(teacher_config.model)
    teacher = HFBackend(teacher_dir)
    judge, judge_spec = judge_for(evaluation_config, teacher, teacher_config.model)
    result = evaluate_student(student, teacher_outputs, evaluation_config, teacher, judge,
                              student_dir=student_model.path, teacher_dir=teacher_dir,
                              judge_name=judge_spec, teacher_name=teacher_config.model)
    evaluation = EvalMetrics(scores=result.scores, warnings=result.warnings,
                             test_set_sha256=content_sha256(held_out(teacher_outputs, evaluation_config).frame),
                             teacher=teacher_config.model, teacher_sha256=weights_sha256(teacher_dir))
    mlflow.log_metrics(result.scores.mlflow_metrics())
    mlflow.set_tags({"fastdistill.eval_split": TEST, "fastdistill.test_examples": str(len(result.scores.ids)),
                     "fastdistill.warnings": "; ".join(w.code for w in result.warnings) or "none"})
    mlflow.log_dict({"samples": [sample.model_dump() for sample in result.samples]}, "evaluation/samples.json")
    mlflow.log_dict(result.details, DETAILS_ARTIFACT)
    mlflow.log_dict(evaluation.model_dump(mode="json"), SCORES_ARTIFACT)
    log_metadata({"split": TEST, "examples": len(result.scores.ids), "test_set_sha256": evaluation.test_set_sha256,
                  "warnings": [w.message for w in result.warnings] or "none",
                  **{name: e.text() for name, e in result.scores.estimates().items()}})
    return evaluation, result.samples
