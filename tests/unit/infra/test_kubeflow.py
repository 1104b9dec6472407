"""The Kubeflow orchestrator's placement: one placement in the run YAML, kept whole on its way to the orchestrator."""

from __future__ import annotations

import pytest
from zenml.integrations.kubeflow.flavors.kubeflow_orchestrator_flavor import (
    KubeflowOrchestratorSettings,
)
from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings

from fastdistill.infra.kubeflow import orchestrator_configuration, with_kubeflow_placement
from fastdistill.infra.kubeflow_settings import SETTINGS_KEY, PlacedKubeflowOrchestratorSettings, not_carried

GPU_POD = {"node_selectors": {"pool": "gpu-train"},
           "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
           "resources": {"requests": {"cpu": "8", "nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}}
CPU_POD = {"node_selectors": {"pool": "system"}, "env_from": [{"secretRef": {"name": "hub-token"}}]}


def test_the_kubernetes_pod_settings_move_under_the_kubeflow_key_run_wide_and_per_step():
    document = {
        "settings": {"docker": {"parent_image": "x"}, "orchestrator.kubernetes": {
            "service_account_name": "runner", "pod_settings": CPU_POD}},
        "steps": {"train_student": {"settings": {"orchestrator.kubernetes": {"pod_settings": GPU_POD}}},
                  "evaluate": {"enable_cache": False}},
    }
    placed = with_kubeflow_placement(document)
    # Only pod settings mean anything to KFP; the Kubernetes key would only make ZenML warn that it is unused.
    assert placed["settings"] == {"docker": {"parent_image": "x"}, SETTINGS_KEY: {"pod_settings": CPU_POD}}
    assert placed["steps"]["train_student"]["settings"] == {SETTINGS_KEY: {"pod_settings": GPU_POD}}
    assert placed["steps"]["evaluate"] == {"enable_cache": False}
    assert SETTINGS_KEY not in document["settings"] and "orchestrator.kubernetes" in document["settings"]  # a copy


def test_a_kubeflow_entry_written_by_hand_keeps_its_settings_and_its_own_pod_settings():
    own = {"pod_settings": {"node_selectors": {"pool": "other"}}, "synchronous": False}
    document = {"settings": {"orchestrator.kubernetes": {"pod_settings": CPU_POD}, SETTINGS_KEY: own}}
    assert with_kubeflow_placement(document)["settings"][SETTINGS_KEY] == own
    document["settings"][SETTINGS_KEY] = {"timeout": 7200}
    assert with_kubeflow_placement(document)["settings"][SETTINGS_KEY] == {"timeout": 7200, "pod_settings": CPU_POD}


def test_zenmls_kubeflow_settings_drop_pod_settings_and_fastdistills_keep_them():
    # Why the flavor exists (ZenML 0.98): its validator rebuilds pod_settings from the legacy fields.
    assert KubeflowOrchestratorSettings(pod_settings=GPU_POD).pod_settings.node_selectors == {}
    kept = PlacedKubeflowOrchestratorSettings.model_validate({"pod_settings": GPU_POD}).pod_settings
    assert kept.node_selectors == {"pool": "gpu-train"} and kept.tolerations == GPU_POD["tolerations"]
    assert kept.resources == GPU_POD["resources"]
    # ZenML's own checks still run on the rest.
    with pytest.raises(ValueError, match="client_username"):
        PlacedKubeflowOrchestratorSettings.model_validate({"pod_settings": GPU_POD, "client_username": "a"})
    legacy = PlacedKubeflowOrchestratorSettings.model_validate({"node_selectors": {"pool": "system"}})
    assert legacy.pod_settings.node_selectors == {"pool": "system"}


def test_what_a_kfp_task_cannot_carry_is_named():
    assert not_carried(KubernetesPodSettings.model_validate(GPU_POD)) == []
    pod = KubernetesPodSettings.model_validate({
        **CPU_POD, "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}},
                               {"name": "data", "persistentVolumeClaim": {"claimName": "c"}}],
        "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        "resources": {"limits": {"ephemeral-storage": "10Gi", "memory": "1Gi"}}})
    assert not_carried(pod) == ["env_from", "volumes.data (only emptyDir volumes)", "env.B (only plain values)",
                                "resources.limits.ephemeral-storage"]


def test_the_orchestrator_reaches_kfp_by_one_endpoint():
    assert orchestrator_configuration(None, "ctx", "kubeflow", None) == {
        "kubeflow_namespace": "kubeflow", "kubernetes_context": "ctx"}
    assert orchestrator_configuration("https://kf.example.com/pipeline", None, "kubeflow", "team") == {
        "kubeflow_namespace": "kubeflow", "kubeflow_hostname": "https://kf.example.com/pipeline",
        "user_namespace": "team"}
    with pytest.raises(ValueError, match="exactly one of --kfp-host"):
        orchestrator_configuration("https://a", "ctx", "kubeflow", None)
    with pytest.raises(ValueError, match="expected an http"):
        orchestrator_configuration("kf.example.com", None, "kubeflow", None)
