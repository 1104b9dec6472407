"""The `fastdistill_kubeflow` orchestrator: ZenML's Kubeflow orchestrator plus each step's pod settings.

Imports kfp (the `kubeflow` extra); `fastdistill.infra.kubeflow` says why the
flavor exists and holds the rest, which does not need kfp.

ZenML's `submit_pipeline` builds one KFP container component per step
(`_create_dynamic_component`, named after the step) and then hands each task
to `_configure_container_resources`. Both are overridden here, not copied:
the first records which component is which step, the second applies that
step's pod settings with kfp-kubernetes after ZenML's own resource settings.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kfp import kubernetes
from zenml.integrations.kubeflow.orchestrators import kubeflow_orchestrator as zenml_kubeflow
from zenml.integrations.kubeflow.orchestrators.kubeflow_orchestrator import (
    KubeflowOrchestrator,
)
from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings
from zenml.logger import get_logger

from fastdistill.infra import k8s
from fastdistill.infra.kubeflow_settings import PlacedKubeflowOrchestratorSettings, not_carried

logger = get_logger(__name__)


def apply_pod_settings(task, pod: KubernetesPodSettings):
    """Put the pod settings a KFP task can carry on `task` (see `kubeflow.CARRIED`); returns the task."""
    for key, value in pod.node_selectors.items():
        kubernetes.add_node_selector(task, key, value)
    for toleration in pod.tolerations:
        kubernetes.add_toleration(task, key=toleration.get("key"), operator=toleration.get("operator"),
                                  value=toleration.get("value"), effect=toleration.get("effect"),
                                  toleration_seconds=toleration.get("tolerationSeconds",
                                                                    toleration.get("toleration_seconds")))
    _apply_resources(task, pod.resources)
    _apply_empty_dirs(task, pod.volumes, pod.volume_mounts)
    for variable in pod.env:
        if "value" in variable:
            task.set_env_variable(name=variable["name"], value=str(variable["value"]))
    for key, value in pod.labels.items():
        kubernetes.add_pod_label(task, key, value)
    for key, value in pod.annotations.items():
        kubernetes.add_pod_annotation(task, key, value)
    return task


def _apply_resources(task, resources: dict[str, dict[str, str]]) -> None:
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for quantity, setter in (("cpu", task.set_cpu_request), ("memory", task.set_memory_request)):
        if quantity in requests:
            setter(str(requests[quantity]))
    for quantity, setter in (("cpu", task.set_cpu_limit), ("memory", task.set_memory_limit)):
        if quantity in limits:
            setter(str(limits[quantity]))
    # KFP 2 has one accelerator count per task, set as the container's limit (Kubernetes makes an extended
    # resource's request equal to its limit); k8s.check_kubernetes_settings already requires the two to match.
    gpus = limits.get(k8s.GPU_RESOURCE, requests.get(k8s.GPU_RESOURCE))
    if gpus is not None and int(gpus) > 0:
        task.set_accelerator_type(k8s.GPU_RESOURCE).set_accelerator_limit(int(gpus))


def _apply_empty_dirs(task, volumes: list[dict], mounts: list[dict]) -> None:
    empty_dirs = {v["name"]: v.get("emptyDir", v.get("empty_dir")) or {} for v in volumes
                  if "emptyDir" in v or "empty_dir" in v}
    for mount in mounts:
        name = mount.get("name")
        if name in empty_dirs:
            empty_dir = empty_dirs[name]
            kubernetes.empty_dir_mount(task, volume_name=name,
                                       mount_path=mount.get("mountPath", mount.get("mount_path")),
                                       medium=empty_dir.get("medium"),
                                       size_limit=empty_dir.get("sizeLimit", empty_dir.get("size_limit")))


class _AppliedHere(logging.Filter):
    """Drops ZenML's warning that a step's pod settings "will be ignored": this orchestrator applies them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be ignored" not in record.getMessage()


@contextmanager
def _without_zenmls_ignored_warning():
    zenml_logger, applied_here = logging.getLogger(zenml_kubeflow.__name__), _AppliedHere()
    zenml_logger.addFilter(applied_here)
    try:
        yield
    finally:
        zenml_logger.removeFilter(applied_here)


class PlacedKubeflowOrchestrator(KubeflowOrchestrator):
    """ZenML's Kubeflow orchestrator that also places each step's pod (node selector, tolerations, GPUs, ...)."""

    @property
    def settings_class(self) -> type[PlacedKubeflowOrchestratorSettings]:
        return PlacedKubeflowOrchestratorSettings

    def submit_pipeline(self, snapshot, stack, base_environment, step_environments, placeholder_run=None):
        self._snapshot = snapshot
        self._step_of_component: dict[str, str] = {}
        with _without_zenmls_ignored_warning():
            return super().submit_pipeline(snapshot=snapshot, stack=stack, base_environment=base_environment,
                                           step_environments=step_environments, placeholder_run=placeholder_run)

    def _create_dynamic_component(self, image: str, command: list[str], arguments: list[str], component_name: str):
        component = super()._create_dynamic_component(image, command, arguments, component_name)
        self._step_of_component[component.name] = component_name  # ZenML names the component after the step
        return component

    def _configure_container_resources(self, dynamic_component, resource_settings, node_selector_constraint=None):
        task = super()._configure_container_resources(dynamic_component, resource_settings, node_selector_constraint)
        step = self._step_of_component[task.component_spec.name]
        pod = self.get_settings(self._snapshot.step_configurations[step]).pod_settings
        if pod is not None:
            apply_pod_settings(task, pod)
            skipped = not_carried(pod)
            if skipped:
                self._not_carried(step, skipped)
        return task

    def _not_carried(self, step: str, settings: list[str]) -> None:
        logger.warning("Step %s: KFP cannot carry these pod settings, they are not applied: %s", step,
                       ", ".join(settings))


class DryRunKubeflowOrchestrator(PlacedKubeflowOrchestrator):
    """The orchestrator with the two cluster-facing parts replaced: images are named, not looked up in a build,
    and the compiled spec is kept instead of uploaded."""

    def prepare_dry_run(self, workdir: Path, registry_uri: str | None) -> None:
        self._workdir, self._registry_uri, self.written_spec = workdir, registry_uri, None
        self.not_carried: dict[str, list[str]] = {}

    def _not_carried(self, step: str, settings: list[str]) -> None:
        self.not_carried[step] = settings  # the dry run reports them itself

    @property
    def pipeline_directory(self) -> str:
        return str(self._workdir)

    def get_image(self, snapshot, step_name: str | None = None) -> str:
        return k8s.image_name(snapshot, step_name or next(iter(snapshot.step_configurations)), self._registry_uri)

    def _upload_and_run_pipeline(self, snapshot, pipeline_file_path: str, run_name: str) -> Any:
        self.written_spec = Path(pipeline_file_path)
        return None
