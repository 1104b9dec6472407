from typing import Annotated

from zenml import get_step_context, log_metadata, step

from fastdistill.config import (
    DataConfig,
    RegistryConfig,
    TeacherConfig,
    TrainingConfig,
    fingerprint,
)
from fastdistill.evaluation.suite import EvalMetrics
from fastdistill.models.directory import ModelDirectory
from fastdistill.registry import mlflow_registry
from fastdistill.registry.mlflow_registry import Registration
from fastdistill.registry.zenml_stage import sync_zenml_stage, zenml_tags


@step(experiment_tracker=True)
def register_student(
    student_model: ModelDirectory,
    eval_metrics: EvalMetrics,
    registry_config: RegistryConfig,
    data_config: DataConfig,
    teacher_config: TeacherConfig,
    training_config: TrainingConfig,
) -> Annotated[Registration, "registration"]:
    """Register the student as `challenger`; the promotion gate decides whether it becomes `champion`."""
    context = get_step_context()
    run = context.pipeline_run
    model_version = context.model_version  # None when the run's config has no `model:`
    tags = {
        "teacher": teacher_config.model,
        "objective": training_config.objective,
        "data_sha256": data_config.seeds_sha256 or "",
        "zenml_run_id": str(run.id),
        "zenml_run_name": run.name,
        "config_sha256": fingerprint(data_config, teacher_config, training_config),
        **zenml_tags(model_version),
    }
    result = mlflow_registry.register_student(
        student_model.path,
        name=registry_config.model_name,
        metrics=eval_metrics.values,
        tags=tags,
        metric=registry_config.metric,
        greater_is_better=registry_config.greater_is_better,
        min_delta=registry_config.min_delta,
        thresholds=registry_config.thresholds,
        must_not_regress=registry_config.must_not_regress,
        regression_tolerance=registry_config.regression_tolerance,
        stage_sync=sync_zenml_stage if model_version is not None else None,
    )
    log_metadata({k: v for k, v in result.model_dump().items() if k != "aliases" and v is not None})
    return result
