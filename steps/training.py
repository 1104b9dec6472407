from typing import Annotated

import mlflow
from zenml import ArtifactConfig, get_step_context, log_metadata, step
from zenml.enums import ArtifactType
from zenml.integrations.mlflow.flavors.mlflow_experiment_tracker_flavor import (
    MLFlowExperimentTrackerSettings,
)

from fastdistill.config import StudentConfig, SweepConfig, TeacherConfig, TrainingConfig
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.infra.durable import artifact_store_dir
from fastdistill.models import resolve_model
from fastdistill.models.directory import ModelDirectory
from fastdistill.training import distributed, sweep, trainers, trial_scoring
from fastdistill.training.checkpoints import CheckpointMirror, trial_key
from fastdistill.training.selection import Selection, TrialResult, mark_best, select
from steps._scratch import step_scratch_dir

# Each trial is its own MLflow run, nested under the pipeline run's parent run.
TRIAL_TRACKING = {"experiment_tracker.mlflow": MLFlowExperimentTrackerSettings(nested=True)}
# Trained students are model artifacts (linked as such to the run's ZenML Model), not data.
STUDENT_MODEL = ArtifactConfig(name="student_model", artifact_type=ArtifactType.MODEL)
BEST_STUDENT = ArtifactConfig(name="best_student", artifact_type=ArtifactType.MODEL)


def _checkpoint_mirror(teacher_outputs: TeacherOutputs, student: StudentConfig, config: TrainingConfig) -> CheckpointMirror:
    """Checkpoints live in the artifact store under a key of everything that shapes the trial's training."""
    key = trial_key(teacher_outputs.meta.identity(), teacher_outputs.frame["id"].tolist(),
                    student.model_dump(), config.model_dump())
    durable = artifact_store_dir("checkpoints", key)
    return CheckpointMirror(durable.root, durable.fs)


@step(experiment_tracker=True, settings=TRIAL_TRACKING)
def train_student(
    teacher_outputs: TeacherOutputs,
    teacher_config: TeacherConfig,
    student_config: StudentConfig,
    training_config: TrainingConfig,
    sweep_config: SweepConfig,
    trial: str,
    config_name: str = "",
) -> tuple[Annotated[ModelDirectory, STUDENT_MODEL], Annotated[TrialResult, "trial_result"]]:
    """One trial: initialise the student, train it on the train split, score it on the validation split."""
    work = step_scratch_dir("fastdistill-student-")
    init_dir, tokenizer, init_info = trainers.prepare_student(teacher_config, student_config, work / "init")
    teacher_dir = None if training_config.objective_record.offline else resolve_model(teacher_config.model)
    mirror = _checkpoint_mirror(teacher_outputs, student_config, training_config) if training_config.save_steps else None
    if training_config.num_processes > 1:  # the GPU training pool: every process runs the trial under accelerate
        result = distributed.train_with_accelerate(init_dir, teacher_outputs, training_config, work / "trained",
                                                   work / "job", teacher_dir)
    else:
        result = trainers.train_student(init_dir, tokenizer, teacher_outputs, training_config, work / "trained",
                                        teacher_dir=teacher_dir, checkpoints=mirror)
    scores = trial_scoring.score_trial(HFBackend(result.model_dir), teacher_outputs, sweep_config)
    _log_trial(trial, teacher_config, training_config, init_info, result, scores.mlflow_metrics())
    info = {**init_info, "trial": trial, "objective": training_config.objective, "teacher": teacher_config.model,
            "train_examples": result.num_examples, "train_seconds": round(result.seconds, 1)}
    log_metadata({**info, **{f"{scores.split}.{k}": e.text() for k, e in scores.estimates().items()},
                  "warnings": result.warnings or "none", "resumed_from_step": result.resumed_from_step})
    trial_result = TrialResult(
        trial=trial, config=config_name or trial, step=get_step_context().step_name,
        objective=training_config.objective, num_layers=student_config.num_layers,
        params=sweep.trial_params(training_config, student_config), scores=scores, history=result.history,
        mlflow_run_id=_active_run_id(), seconds=round(result.seconds, 1), warnings=result.warnings,
        training=training_config, train_ids=result.train_ids,
    )
    return ModelDirectory(result.model_dir, info), trial_result


def _log_trial(trial, teacher_config, training_config, init_info, result, metrics) -> None:
    mlflow.set_tag("fastdistill.trial", trial)
    mlflow.log_params({f"training.{k}": v for k, v in training_config.model_dump().items()})
    mlflow.log_params({"teacher.model": teacher_config.model, "teacher.top_k": teacher_config.top_k,
                       **{f"student.{k}": v for k, v in init_info.items()}})
    for row in result.history:
        mlflow.log_metrics({f"train/{k}": v for k, v in row.items() if k != "step"}, step=row["step"])
    mlflow.log_metrics(metrics)


def _active_run_id() -> str:
    run = mlflow.active_run()
    return run.info.run_id if run else ""


@step
def select_best(
    student_models: list[ModelDirectory], trial_results: list[TrialResult], sweep_config: SweepConfig
) -> tuple[
    Annotated[ModelDirectory, BEST_STUDENT],
    Annotated[list[TrialResult], "sweep_results"],
    Annotated[TrainingConfig, "best_training_config"],
    Annotated[Selection, "sweep_selection"],
]:
    """On the validation split: the best configuration if it is ahead beyond noise, else the simplest of those tied
    with it (see `fastdistill.training.selection`); its best seed goes on to evaluation and registration."""
    selection = select(trial_results, sweep_config.metric)
    results = mark_best(trial_results, selection)
    chosen = next(i for i, r in enumerate(results) if r.best)
    log_metadata({"trials": len(results), "chosen_trial": selection.chosen_trial, "metric": sweep_config.metric,
                  "split": selection.split, "separable": selection.separable, "reason": selection.reason,
                  **{c.config: c.estimate.text() for c in selection.configs}})
    return student_models[chosen], results, results[chosen].training, selection
