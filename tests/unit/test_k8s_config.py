"""configs/k8s.yaml places the GPU steps the way ZenML's Kubernetes orchestrator expects.

No cluster here: the settings are validated with the orchestrator's own
settings model. Building and validating the full pod manifests is the
Kubernetes/Terraform issue's job.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fastdistill.config import load_run_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def k8s():
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return load_run_config(ROOT / "configs" / "k8s.yaml")
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("step, pool", [
    ("synthesize", "gpu-inference"), ("teacher_inference", "gpu-inference"), ("train_student", "gpu-training"),
])
def test_gpu_steps_select_their_pool_tolerate_the_taint_and_request_a_gpu(k8s, step, pool):
    from zenml.integrations.kubernetes.flavors import KubernetesOrchestratorSettings

    document, _ = k8s
    settings = KubernetesOrchestratorSettings.model_validate(document["steps"][step]["settings"]["orchestrator.kubernetes"])
    pod = settings.pod_settings
    assert pod.node_selectors == {"pool": pool}
    assert [(t["key"], t["operator"], t["effect"]) for t in pod.tolerations] == [("nvidia.com/gpu", "Exists", "NoSchedule")]
    assert pod.resources["limits"]["nvidia.com/gpu"] == "1"


def test_k8s_parameters_validate_and_use_the_gpu_backend(k8s):
    _, config = k8s
    assert config.teacher.backend == "vllm"
