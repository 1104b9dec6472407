import logging
from typing import Annotated

from zenml import get_step_context, log_metadata, step

from fastdistill.config import (
    DataConfig,
    EvaluationConfig,
    RegistryConfig,
    TeacherConfig,
    TrainingConfig,
    fingerprint,
)
from fastdistill.evaluation.evaluate_file import rescore
from fastdistill.evaluation.scores import EvalMetrics
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.models.directory import ModelDirectory
from fastdistill.registry import mlflow_registry
from fastdistill.registry.mlflow_registry import Registration
from fastdistill.registry.promotion import policy_of
from fastdistill.registry.zenml_stage import sync_zenml_stage, zenml_tags


logger = logging.getLogger(__name__)


@step(experiment_tracker=True)
def register_student(
    student_model: ModelDirectory,
    eval_metrics: EvalMetrics,
    registry_config: RegistryConfig,
    data_config: DataConfig,
    teacher_config: TeacherConfig,
    training_config: TrainingConfig,
    teacher_outputs: TeacherOutputs,
    evaluation_config: EvaluationConfig,
) -> Annotated[Registration, "registration"]:
    """Register the student as `challenger`; the promotion gate decides, on the test split's paired CIs against a
    champion of the same teacher on the same test set, whether it becomes `champion`."""
    context = get_step_context()
    run = context.pipeline_run
    model_version = context.model_version  # None when the run's config has no `model:`
    tags = {
        "objective": training_config.objective,
        "data_sha256": data_config.seeds_sha256 or "",
        "zenml_run_id": str(run.id),
        "zenml_run_name": run.name,
        "config_sha256": fingerprint(data_config, teacher_config, training_config),
        **zenml_tags(model_version),
    }

    def rescore_champion(model_uri: str) -> EvalMetrics | None:
        try:
            scores = rescore(model_uri, teacher_outputs, evaluation_config)
        except Exception as err:  # a champion that cannot be loaded or scored: the gate holds, saying so
            logger.warning("could not re-score the champion %s on this test set: %s", model_uri, err)
            return None
        return eval_metrics.model_copy(update={"scores": scores, "warnings": []})

    result = mlflow_registry.register_student(
        student_model.path, name=registry_config.model_name, evaluation=eval_metrics, tags=tags,
        policy=policy_of(registry_config), allow_teacher_change=registry_config.allow_teacher_change,
        rescore=rescore_champion, stage_sync=sync_zenml_stage if model_version is not None else None,
    )
    log_metadata({k: v for k, v in result.model_dump().items() if k != "aliases" and v is not None})
    return result
