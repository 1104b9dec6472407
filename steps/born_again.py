from typing import Annotated

import mlflow
from mlflow.tracking import MlflowClient
from zenml import get_step_context, log_metadata, step

from fastdistill.config import (
    BornAgainConfig,
    DataConfig,
    RegistryConfig,
    SweepConfig,
    TeacherConfig,
    TrainingConfig,
    fingerprint,
)
from fastdistill.data.splits import TEST
from fastdistill.evaluation.scores import EvalMetrics
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.models.directory import ModelDirectory
from fastdistill.registry import born_again, mlflow_registry
from fastdistill.registry.born_again import ChainRegistration, GenerationRow, Plan
from fastdistill.registry.mlflow_registry import Registration
from fastdistill.registry.promotion import Policy
from fastdistill.training import trial_scoring


@step(experiment_tracker=True, enable_cache=False)  # the registry changes between runs with identical inputs
def plan_generation(
    teacher_config: TeacherConfig, registry_config: RegistryConfig, chain_config: BornAgainConfig
) -> tuple[Annotated[TeacherConfig, "generation_teacher"], Annotated[Plan, "generation_plan"]]:
    """Read the chain from the registry: which generation this run is and which model it learns from.

    Planned at run time, not when the pipeline is compiled, so a schedule's every run is the next generation.
    """
    name = born_again.chain_model_name(registry_config.model_name, chain_config)
    plan = born_again.plan_next(born_again.read_chain(MlflowClient(), name, chain_config), chain_config, name,
                                teacher_config.model)
    if isinstance(plan, born_again.Finished):
        raise RuntimeError(f"chain '{chain_config.chain_id}' is finished: {plan.reason}; "
                           "pause or delete its schedule (run.py schedule pause|delete)")
    mlflow.set_tags({f"chain.{k}": v for k, v in plan.lineage(chain_config).items()})
    log_metadata({"generation": plan.generation, "teacher": plan.teacher, "teacher_version": plan.teacher_version})
    return teacher_config.model_copy(update={"model": plan.teacher}), plan


@step(experiment_tracker=True)
def score_against_original(
    student_model: ModelDirectory, original_outputs: TeacherOutputs, sweep_config: SweepConfig
) -> Annotated[EvalMetrics, "original_teacher_metrics"]:
    """Test-split fidelity to the chain's original teacher (KL, top-1 agreement, ROUGE-L vs its answers)."""
    scores = trial_scoring.score_trial(HFBackend(student_model.path), original_outputs, sweep_config, split=TEST)
    mlflow.log_metrics({f"original_teacher.{k}": v for k, v in scores.mlflow_metrics().items()})
    log_metadata({name: e.text() for name, e in scores.estimates().items()})
    return EvalMetrics(scores=scores)


@step(experiment_tracker=True, enable_cache=False)  # a cached registration would register nothing
def register_generation(
    student_model: ModelDirectory,
    eval_metrics: EvalMetrics,
    original_metrics: EvalMetrics,
    generation_plan: Plan,
    registry_config: RegistryConfig,
    chain_config: BornAgainConfig,
    data_config: DataConfig,
    training_config: TrainingConfig,
) -> Annotated[ChainRegistration, "registration"]:
    """Register the generation with its lineage; it becomes the chain's champion if it beat its teacher."""
    plan = generation_plan
    improved, why = born_again.improvement(eval_metrics, plan, chain_config, registry_config.decision)
    run = get_step_context().pipeline_run
    original = {f"metric.original_teacher.{k}": str(v) for k, v in original_metrics.values.items()}
    tags = {**plan.lineage(chain_config), "objective": training_config.objective, "data_sha256": data_config.seeds_sha256 or "",
            "zenml_run_id": str(run.id), "zenml_run_name": run.name, "chain.improved": str(improved).lower(),
            "chain.reason": why, "config_sha256": fingerprint(data_config, training_config, chain_config), **original}
    policy = Policy(chain_config.metric, chain_config.greater_is_better, chain_config.min_improvement,
                    decision=registry_config.decision)
    result = mlflow_registry.register_student(
        student_model.path, name=born_again.chain_model_name(registry_config.model_name, chain_config),
        evaluation=eval_metrics, tags=tags, policy=policy, allow_teacher_change=True,
    )
    registration = ChainRegistration(**result.model_dump(), generation=plan.generation, improved=improved,
                                     improvement=why)
    log_metadata({k: v for k, v in registration.model_dump().items() if k != "aliases" and v is not None})
    return registration


@step(experiment_tracker=True, enable_cache=False)  # the tracker gives it the registry's tracking URI
def summarize_chain(
    registration: Registration, registry_config: RegistryConfig, chain_config: BornAgainConfig
) -> Annotated[list[GenerationRow], "born_again"]:
    """Every generation of the chain so far (after this run's registration), for the report."""
    name = born_again.chain_model_name(registry_config.model_name, chain_config)
    generations = born_again.read_chain(MlflowClient(), name, chain_config)
    log_metadata({"generations": len(generations), "latest_version": registration.version})
    return born_again.report_rows(generations, chain_config)
