"""The `fastdistill_kubeflow` orchestrator's settings and what a KFP task can carry of them (no kfp needed).

`fastdistill.infra.kubeflow` says why the flavor exists; this module is
shared by it and by the orchestrator (`kubeflow_orchestrator`, which imports kfp).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo, model_validator
from zenml.integrations.kubeflow.flavors.kubeflow_orchestrator_flavor import (
    KubeflowOrchestratorSettings,
)
from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings

from fastdistill.infra.k8s import GPU_RESOURCE

FLAVOR = "fastdistill_kubeflow"
SETTINGS_KEY = f"orchestrator.{FLAVOR}"
# Pod settings the orchestrator applies to a KFP task (kubeflow_orchestrator.apply_pod_settings).
CARRIED = frozenset({"node_selectors", "tolerations", "resources", "volumes", "volume_mounts", "env", "labels",
                     "annotations"})


class PlacedKubeflowOrchestratorSettings(KubeflowOrchestratorSettings):
    """ZenML's Kubeflow settings, with `pod_settings` kept as given."""

    @model_validator(mode="before")
    @classmethod
    def _validate_and_migrate_pod_settings(cls, data: Any, info: ValidationInfo) -> Any:
        # Same name: replaces ZenML's validator, which overwrites a given pod_settings with one built from the
        # legacy node_selectors/node_affinity fields. Its checks still run, on the data without pod_settings.
        zenml_validator = KubeflowOrchestratorSettings.__pydantic_decorators__.model_validators[
            "_validate_and_migrate_pod_settings"].func.__func__
        if not isinstance(data, dict) or data.get("pod_settings") is None:
            return zenml_validator(cls, data, info)
        checked = zenml_validator(cls, {k: v for k, v in data.items() if k != "pod_settings"}, info)
        return {**checked, "pod_settings": data["pod_settings"]}


def not_carried(pod_settings: KubernetesPodSettings) -> list[str]:
    """The pod settings set here that a KFP task cannot carry (KFP 2 has no envFrom, affinity, ... per task)."""
    unset = KubernetesPodSettings()
    problems = [name for name in sorted(pod_settings.model_fields_set - CARRIED)
                if getattr(pod_settings, name) != getattr(unset, name)]
    problems += [f"volumes.{v.get('name')} (only emptyDir volumes)" for v in pod_settings.volumes
                 if "emptyDir" not in v and "empty_dir" not in v]
    problems += [f"env.{e.get('name')} (only plain values)" for e in pod_settings.env if "value" not in e]
    problems += [f"resources.{kind}.{name}" for kind, values in pod_settings.resources.items()
                 for name in values if name not in ("cpu", "memory", GPU_RESOURCE)]
    return problems
