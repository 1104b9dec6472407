"""Kubernetes settings are checked strictly before a run: what ZenML would drop silently is an error here.

No cluster is involved: these are the checks of fastdistill.infra.k8s on YAML
documents. The manifests ZenML would submit are built in
tests/integration/test_k8s_manifests.py.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from fastdistill.config import TeacherConfig
from fastdistill.infra.k8s import (
    PlacementError,
    check_gpu_sizing,
    check_kubernetes_settings,
    expand_step_patterns,
)
from fastdistill.run_config import load_run_config

ROOT = Path(__file__).resolve().parents[3]
DISTILL_IDS = ["load_seeds", "synthesize", "quality_gate", "teacher_inference", "train_student", "evaluate",
               "register_student"]


@pytest.fixture(scope="module")
def k8s():
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return load_run_config(ROOT / "configs" / "k8s.yaml")
    finally:
        os.chdir(cwd)


def _teacher_pod(document):
    return document["steps"]["teacher_inference"]["settings"]["orchestrator.kubernetes"]["pod_settings"]


def test_configs_k8s_yaml_passes_every_check(k8s):
    document, params = k8s
    check_kubernetes_settings(document, "configs/k8s.yaml")
    expanded = expand_step_patterns(document["steps"], DISTILL_IDS, "configs/k8s.yaml")
    check_gpu_sizing({**document, "steps": expanded}, params)
    assert params.teacher.backend == "vllm"
    assert sorted(expanded) == ["evaluate", "synthesize", "teacher_inference", "train_student"]


@pytest.mark.parametrize("mutate, expected", [
    (lambda pod: pod.update(node_selector=pod.pop("node_selectors")),
     "steps.teacher_inference.settings.orchestrator.kubernetes.pod_settings.node_selector: not a pod setting"),
    (lambda pod: pod["tolerations"][0].update(efect=pod["tolerations"][0].pop("effect")),
     "pod_settings.tolerations[0].efect: not a field of V1Toleration"),
    (lambda pod: pod["resources"].update(limit=pod["resources"].pop("limits")),
     "pod_settings.resources.limit: not a field of V1ResourceRequirements"),
    (lambda pod: pod["volume_mounts"][0].update(mount_path=pod["volume_mounts"][0].pop("mountPath")),
     "volume_mounts[0].mount_path: not a field of V1VolumeMount (Kubernetes spells it 'mountPath')"),
    (lambda pod: pod["volumes"][0]["emptyDir"].update(size_limit="1Gi"),
     "volumes[0].emptyDir.size_limit: not a field of V1EmptyDirVolumeSource (Kubernetes spells it 'sizeLimit')"),
    (lambda pod: pod["env_from"][0].update(secret_ref=pod["env_from"][0].pop("secretRef")),
     "env_from[0].secret_ref: not a field of V1EnvFromSource"),
    (lambda pod: pod["resources"]["limits"].pop("nvidia.com/gpu"),
     "nvidia.com/gpu request '1' needs an equal limit"),
], ids=["node_selector", "toleration-efect", "resources-limit", "mount_path", "emptyDir-size_limit", "secret_ref",
        "gpu-without-limit"])
def test_a_misspelled_or_unschedulable_pod_setting_is_an_error_naming_its_path(k8s, mutate, expected):
    document = copy.deepcopy(k8s[0])
    mutate(_teacher_pod(document))
    with pytest.raises(PlacementError) as err:
        check_kubernetes_settings(document, "configs/k8s.yaml")
    assert str(err.value).startswith("configs/k8s.yaml: ")
    assert expected in str(err.value)


def test_unknown_orchestrator_setting_and_misspelled_flavor_key_are_errors(k8s):
    document = copy.deepcopy(k8s[0])
    document["settings"]["orchestrator.kubernetes"]["service_acount_name"] = "x"
    document["steps"]["train_student"]["settings"]["orchestrator.kubernetes"] = \
        document["steps"]["train_student"]["settings"].pop("orchestrator.kubernetes")
    document["steps"]["evaluate"] = {"settings": {"orchestrator.kubernetis": {}}}
    with pytest.raises(PlacementError) as err:
        check_kubernetes_settings(document)
    lines = str(err.value).splitlines()
    assert len(lines) == 2
    assert "settings.orchestrator.kubernetes.service_acount_name: not a Kubernetes orchestrator setting" in lines[0]
    assert "steps.evaluate.settings.orchestrator.kubernetis: unknown settings key" in lines[1]


def test_glob_keys_expand_to_the_sweep_trial_ids_and_exact_ids_win():
    gpu, cpu, special = {"pool": "gpu-train"}, {"pool": "system"}, {"pool": "special"}
    ids = DISTILL_IDS + ["train_student_fkl", "train_student_rkl"]
    steps = {"train_student_*": gpu, "train_student_rkl": special, "evaluate": cpu}
    expanded = expand_step_patterns(steps, ids)
    assert expanded == {"train_student_rkl": special, "evaluate": cpu, "train_student_fkl": gpu}
    assert expand_step_patterns({"train_student_*": gpu}, DISTILL_IDS) == {}  # no sweep: nothing to place


def test_an_exact_step_key_naming_no_step_and_overlapping_patterns_are_errors():
    with pytest.raises(PlacementError, match=r"steps.teacher_inferense: no step with this id in the pipeline"):
        expand_step_patterns({"teacher_inferense": {}}, DISTILL_IDS, "my.yaml")
    with pytest.raises(PlacementError, match=r"steps.train_\*: matches 'train_student_a', already matched by 'train_student_\*'"):
        expand_step_patterns({"train_student_*": {}, "train_*": {}}, ["train_student_a"])


def _with_teacher(params, **teacher):
    return params.model_copy(update={"teacher": TeacherConfig(**teacher)})


def test_every_step_running_the_teacher_with_vllm_gets_tensor_parallel_size_gpus(k8s):
    document, params = k8s
    with pytest.raises(PlacementError) as err:
        check_gpu_sizing(document, _with_teacher(params, backend="vllm", tensor_parallel_size=2), "configs/k8s.yaml")
    lines = str(err.value).splitlines()
    assert [line.split(".settings")[0].split()[-1] for line in lines] == ["steps.synthesize", "steps.teacher_inference"]
    assert "nvidia.com/gpu = 1, but the step runs the teacher with vLLM and teacher.tensor_parallel_size = 2" in lines[0]
    two = copy.deepcopy(document)  # synthesize and teacher_inference share one YAML anchor: one edit moves both
    for side in ("requests", "limits"):
        _teacher_pod(two)["resources"][side]["nvidia.com/gpu"] = "2"
    check_gpu_sizing(two, _with_teacher(params, backend="vllm", tensor_parallel_size=2))
    check_gpu_sizing(document, _with_teacher(params, backend="hf", tensor_parallel_size=2))  # only vLLM shards


def test_synthesis_on_the_cpu_pool_is_refused_with_vllm_and_allowed_when_disabled_or_served(k8s):
    document, params = k8s
    on_cpu = copy.deepcopy(document)
    del on_cpu["steps"]["synthesize"]  # falls back to the pipeline-level CPU placement
    with pytest.raises(PlacementError, match=r"steps.synthesize.*nvidia.com/gpu = 0.*use teacher.backend: openai"):
        check_gpu_sizing(on_cpu, params)
    no_synthesis = params.model_copy(update={"synthesis": params.synthesis.model_copy(update={"enabled": False})})
    check_gpu_sizing(on_cpu, no_synthesis)
    check_gpu_sizing(on_cpu, _with_teacher(params, backend="openai", base_url="http://vllm.zenml:8000/v1"))
