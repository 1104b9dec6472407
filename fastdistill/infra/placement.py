"""A run's Kubernetes placement before it runs: the checked run YAML, and the dry run's table of step pods.

`checked_document` is what every command that runs or schedules a pipeline
does first: Kubernetes settings checked strictly, `steps:` keys checked against
the pipeline's invocation ids on every stack and glob keys expanded into them,
GPU counts checked against the teacher (see `fastdistill.infra.k8s`), and pods
checked against the cluster's pools and the models their steps load
(`fastdistill.infra.capacity`). `dry_run_placement` builds the Jobs ZenML's
Kubernetes orchestrator would submit and returns one row per pod, with the
weights each step loads, for the
`--dry-run` table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastdistill.infra import capacity, k8s
from fastdistill.run_config import ConfigError, pipeline_sections
from fastdistill.training.sweep import TRAIN_STEP, with_trial_step_settings

COLUMNS = ("step", "pool", "GPUs", "CPU", "memory", "tolerations", "model weights")


def needs_check(document: dict) -> bool:
    """Whether the run YAML has Kubernetes settings or `steps:` entries (otherwise it is used as written)."""
    return k8s.uses_kubernetes(document) or bool(document.get("steps"))


def checked_document(config_path: Path, document: dict, params, load_pipeline: Callable[[], Any]) -> dict:
    """The run YAML with Kubernetes settings checked and `steps:` keys checked and glob keys expanded.

    Every `steps:` key must name a step of the pipeline, on any stack: ZenML only warns about one it does not
    know, so a misspelled key would silently leave its step unconfigured. `train_student` is first copied to
    every sweep trial's id (`with_trial_step_settings`). `load_pipeline` returns the pipeline the YAML is for;
    it is only called when there is something to check (importing the pipelines imports ZenML and the steps).
    Raises `ConfigError`, one problem a line.
    """
    if not needs_check(document):
        return document
    pipeline = load_pipeline()
    try:
        k8s.check_kubernetes_settings(document, str(config_path))
        ids = k8s.invocation_ids(pipeline, pipeline_sections(params, pipeline))
        steps = with_trial_step_settings(document.get("steps") or {}, trial_ids(ids))
        document = {**document, "steps": k8s.expand_step_patterns(steps, ids, str(config_path))}
        k8s.check_gpu_sizing(document, params, str(config_path))
        capacity.check_pools(document, params, str(config_path))
        capacity.check_model_memory(document, params, ids, str(config_path))
    except k8s.PlacementError as err:
        raise ConfigError(str(err)) from None
    return document


def trial_ids(invocation_ids: list[str]) -> list[str]:
    """The training steps' ids: `train_student` alone, or one `train_student_<trial>` per sweep trial."""
    return [i for i in invocation_ids if i == TRAIN_STEP or i.startswith(f"{TRAIN_STEP}_")] or [TRAIN_STEP]


@dataclass(frozen=True)
class Placement:
    """Where each step's pod would run, and the image(s) it would run in."""

    rows: list[k8s.StepPlacement]
    base_image: str  # what the image is built on: the run YAML's dockerfile or parent image
    estimates: dict[str, capacity.StepEstimate] = field(default_factory=dict)  # by step: the weights it loads

    @property
    def images(self) -> list[str]:
        return sorted({row.image for row in self.rows})

    @property
    def columns(self) -> tuple[str, ...]:
        """The table's columns; an image column only when steps run in different images."""
        return COLUMNS + (("image",) if len(self.images) > 1 else ())

    def table_rows(self) -> list[list[str]]:
        with_image = len(self.images) > 1
        return [[row.step, row.pool, str(row.gpus), row.cpu, row.memory, ", ".join(row.tolerations) or "-",
                 self.estimates[row.step].short() if row.step in self.estimates else "-",
                 *((row.image,) if with_image else ())] for row in self.rows]


def base_image(document: dict) -> str:
    docker = (document.get("settings") or {}).get("docker") or {}
    return docker.get("dockerfile") or docker.get("parent_image") or "ZenML's default image"


def dry_run_placement(document: dict, params, pipeline, registry_uri: str | None = None) -> Placement:
    """The step Jobs the Kubernetes orchestrator would submit for this run, built and validated here (no cluster).

    Raises `ValueError` (a `PlacementError`, or the kubernetes client's models refusing a manifest).
    """
    orchestrator = k8s.dry_run_orchestrator()
    snapshot = k8s.compile_for_kubernetes(pipeline, document, pipeline_sections(params, pipeline), orchestrator)
    manifests = k8s.job_manifests(snapshot, orchestrator, registry_uri)
    rows = k8s.placement(manifests)
    for row in rows:
        k8s.validate_job(manifests[row.step], row.step)
    steps = [row.step for row in rows if row.step != k8s.ORCHESTRATOR_JOB]
    return Placement(rows, base_image(document), capacity.step_estimates(document, params, steps))


def active_registry_uri() -> str | None:
    """The active stack's container registry (after `stack k8s`), so the dry run names the real image."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    registries = Client().active_stack_model.components.get(StackComponentType.CONTAINER_REGISTRY) or []
    return registries[0].configuration.get("uri") if registries else None
