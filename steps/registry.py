from typing import Annotated

from zenml import get_step_context, log_metadata, step

from fastdistill import registry
from fastdistill.artifacts import ModelDirectory
from fastdistill.config import DataConfig, RegistryConfig, TeacherConfig, TrainingConfig, fingerprint


@step(experiment_tracker=True)
def register_student(
    student_model: ModelDirectory,
    eval_metrics: dict,
    registry_config: RegistryConfig,
    data_config: DataConfig,
    teacher_config: TeacherConfig,
    training_config: TrainingConfig,
) -> Annotated[dict, "registration"]:
    """Register the student as `challenger`; promote it to `champion` if it wins on the configured metric."""
    run = get_step_context().pipeline_run
    tags = {
        "teacher": teacher_config.model,
        "objective": training_config.objective,
        "data_sha256": data_config.seeds_sha256 or "",
        "zenml_run_id": str(run.id),
        "zenml_run_name": run.name,
        "config_sha256": fingerprint(data_config, teacher_config, training_config),
    }
    result = registry.register_student(
        student_model.path,
        name=registry_config.model_name,
        metrics=eval_metrics,
        tags=tags,
        metric=registry_config.metric,
        greater_is_better=registry_config.greater_is_better,
        min_delta=registry_config.min_delta,
    )
    summary = {"name": result.name, "version": result.version, "aliases": result.aliases,
               "promoted": result.promoted, "reason": result.reason, "model_uri": result.model_uri}
    log_metadata({k: v for k, v in summary.items() if k != "aliases"})
    return summary
