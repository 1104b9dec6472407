"""What each step loads, estimated from parameter counts and dtypes, and the pods and pools it must fit.

Models are described by a config.json alone (no weights): their parameters are counted on PyTorch's
meta device, so a 7B shape costs nothing here. The GPU half of the dtype rule is checked with
`torch.cuda.is_bf16_supported` replaced, since no GPU exists on these machines.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch

from fastdistill.config import DataConfig, PoolConfig, RunConfig, memory_bytes
from fastdistill.infra.capacity import (
    GIB,
    check_model_memory,
    check_pools,
    estimate,
    step_models,
)
from fastdistill.infra.k8s import PlacementError
from fastdistill.models.footprint import model_config, parameter_count, with_layers
from fastdistill.models.precision import inference_dtype

# Llama-2-7B's shape. Per layer: attention 4 x 4096^2, MLP 3 x 4096 x 11008, two norms; plus untied
# embeddings and lm_head (32000 x 4096 each) and the final norm.
LLAMA_7B = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
            "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096,
            "tie_word_embeddings": False, "rms_norm_eps": 1e-5}
PER_LAYER = 4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096
OUTSIDE_LAYERS = 2 * 32000 * 4096 + 4096
SEVEN_B = 32 * PER_LAYER + OUTSIDE_LAYERS  # 6,738,415,616


@pytest.fixture()
def seven_b(tmp_path) -> str:
    directory = tmp_path / "llama-7b"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(LLAMA_7B))
    return str(directory)


def _params(teacher_model: str, pods: dict | None = None, **sections) -> RunConfig:
    values = {"teacher": {"model": teacher_model, "backend": "hf"}, "student": {"num_layers": 20}, **sections}
    if pods is not None:
        values["cluster"] = {"pools": pods}
    return RunConfig(data=DataConfig(), **values)


def _pod(pool: str, memory: str | None = None, gpus: int = 0, limit: str | None = None) -> dict:
    requests = ({"memory": memory} if memory else {}) | ({"nvidia.com/gpu": str(gpus)} if gpus else {})
    limits = ({"memory": limit} if limit else {}) | ({"nvidia.com/gpu": str(gpus)} if gpus else {})
    return {"node_selectors": {"pool": pool}, "resources": {"requests": requests, "limits": limits}}


def _document(**steps: dict) -> dict:
    return {"settings": {"orchestrator.kubernetes": {"pod_settings": _pod("system", "8Gi", limit="16Gi")}},
            "steps": {step: {"settings": {"orchestrator.kubernetes": {"pod_settings": pod}}} for step, pod in steps.items()}}


POOLS = {"system": {"instance_type": "m6i.2xlarge", "memory": "32Gi"},
         "gpu-inference": {"instance_type": "g6.8xlarge", "memory": "128Gi", "gpus": 1, "gpu_memory": "23034Mi"}}


def test_parameters_are_counted_exactly_from_the_config_alone(seven_b):
    config = model_config(seven_b)
    assert parameter_count(config) == SEVEN_B == 6_738_415_616
    assert parameter_count(with_layers(config, 20)) == 20 * PER_LAYER + OUTSIDE_LAYERS
    assert config.num_hidden_layers == 32  # with_layers copies


def test_the_packaged_teacher_is_sized_from_its_gguf_without_loading_it():
    # SmolLM2-135M: 30 layers of 576 wide (3 KV heads of 64), MLP 1536, tied 49152-token embeddings.
    layer = 2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536 + 2 * 576
    assert parameter_count(model_config("packaged:smollm2-135m-instruct")) == 30 * layer + 49152 * 576 + 576


def test_evaluate_loads_student_teacher_and_a_distinct_judge_in_bf16_on_a_gpu_and_fp32_on_the_cpu(seven_b, tmp_path):
    params = _params(seven_b)
    assert [(n.role, n.name) for n in step_models("evaluate", params)] == [
        ("student", f"20 layers of {seven_b}"), ("teacher", seven_b)]  # the teacher is the judge: loaded once
    on_gpu, on_cpu = estimate("evaluate", params, True), estimate("evaluate", params, False)
    assert on_gpu.bytes == 2 * (SEVEN_B + 20 * PER_LAYER + OUTSIDE_LAYERS) and on_cpu.bytes == 2 * on_gpu.bytes
    judge = tmp_path / "judge"
    judge.mkdir()
    (judge / "config.json").write_text(json.dumps({**LLAMA_7B, "num_hidden_layers": 16}))
    with_judge = _params(seven_b, evaluation={"judge_model": str(judge)})
    assert [n.role for n in step_models("evaluate", with_judge)] == ["student", "teacher", "judge"]
    assert estimate("evaluate", with_judge, True).bytes == on_gpu.bytes + 2 * (16 * PER_LAYER + OUTSIDE_LAYERS)


def test_the_teacher_steps_follow_the_backend_and_training_counts_optimizer_state(seven_b):
    assert estimate("teacher_inference", _params(seven_b), True).bytes == 2 * SEVEN_B
    served = {"model": seven_b, "backend": "openai", "base_url": "http://vllm:8000/v1"}
    assert step_models("teacher_inference", _params(seven_b, teacher=served)) == []  # served: loads nothing
    assert step_models("synthesize", _params(seven_b, synthesis={"enabled": False})) == []
    student = 20 * PER_LAYER + OUTSIDE_LAYERS
    assert estimate("train_student", _params(seven_b), True).bytes == 16 * student  # fp32 weights, grads, AdamW
    on_policy = _params(seven_b, training={"objective": "gkd"})
    assert [n.role for n in step_models("train_student", on_policy)] == ["student", "teacher"]
    assert estimate("train_student", on_policy, True).bytes == 16 * student + 4 * SEVEN_B  # the teacher in fp32


def test_a_model_the_dry_run_cannot_size_is_shown_as_a_lower_bound_and_never_refused():
    params = _params("my-org/not-in-any-cache-7b")
    found = estimate("teacher_inference", params, True)
    assert found.loads[0].parameters is None and "not in the local hub cache" in found.loads[0].problem
    assert found.short() == "0.0 GiB (at least): teacher (bf16)"
    check_model_memory(_document(teacher_inference=_pod("system", "1Gi", limit="1Gi")), params, ["teacher_inference"])


def test_a_step_whose_weights_exceed_its_pod_or_gpus_is_refused_naming_step_models_and_estimate(seven_b):
    params = _params(seven_b, pods=POOLS)
    document = _document(teacher_inference=_pod("gpu-inference", "40Gi", gpus=1, limit="40Gi"))
    with pytest.raises(PlacementError) as err:
        check_model_memory(document, params, ["load_seeds", "teacher_inference", "evaluate"], "my.yaml")
    lines = str(err.value).splitlines()
    assert len(lines) == 1  # evaluate (on the run's 16Gi CPU pod) only: the teacher fits the L4 in bf16
    assert lines[0] == (
        f"my.yaml: steps.evaluate: loads student 20 layers of {seven_b} (4.31B parameters, float32: 16.1 GiB) + "
        f"teacher {seven_b} (6.74B parameters, float32: 25.1 GiB) = 41.2 GiB of weights, more than its pod holds "
        "(memory limit 16.0 GiB); place it on a pool with more memory or use smaller models")
    two_models_on_one_l4 = _document(evaluate=_pod("gpu-inference", "40Gi", gpus=1, limit="40Gi"))
    with pytest.raises(PlacementError, match=r"steps.evaluate: .* = 24.3 GiB of weights, more than its pod holds "
                                             r"\(1 x 23034Mi GPU on pool gpu-inference \(22.5 GiB\)\)") as err:
        check_model_memory(two_models_on_one_l4, _params(seven_b, pods=POOLS, student={"num_layers": 30}), ["evaluate"])
    assert "place it on a pool with more GPU memory" in str(err.value)


def test_pods_must_select_a_known_pool_and_fit_one_of_its_nodes():
    params = RunConfig(data=DataConfig(), cluster={"pools": POOLS})
    fits = _document(teacher_inference=_pod("gpu-inference", "100Gi", gpus=1))
    check_pools(fits, params)  # 100 GiB of a 128 GiB node
    bad = copy.deepcopy(fits)
    bad["steps"]["teacher_inference"] = {"settings": {"orchestrator.kubernetes": {
        "pod_settings": _pod("gpu-inference", "120Gi", gpus=2)}}}
    bad["steps"]["evaluate"] = {"settings": {"orchestrator.kubernetes": {"pod_settings": _pod("gpu-infrence", "1Gi")}}}
    with pytest.raises(PlacementError) as err:
        check_pools(bad, params, "my.yaml")
    path = "steps.teacher_inference.settings.orchestrator.kubernetes.pod_settings"
    assert str(err.value).splitlines() == [
        (f"my.yaml: {path}.resources: nvidia.com/gpu = 2, but a gpu-inference node (g6.8xlarge) has 1: the pod would "
         "stay Pending"),
        (f"         {path}.resources.requests.memory: 120 GiB, but a gpu-inference node (g6.8xlarge, 128Gi) gives pods "
         "about 115 GiB: the pod would stay Pending; lower the request or use a larger instance type"),
        ("         steps.evaluate.settings.orchestrator.kubernetes.pod_settings.node_selectors.pool: 'gpu-infrence' is "
         "not a pool of parameters.cluster.pools ['gpu-inference', 'system']")]
    check_pools(bad, RunConfig(data=DataConfig()))  # no cluster described: nothing to check against


def test_a_pool_is_validated_up_front():
    with pytest.raises(ValueError, match=r"gpus = 1 needs gpu_memory"):
        PoolConfig(instance_type="g6.8xlarge", memory="128Gi", gpus=1)
    with pytest.raises(ValueError, match=r"'128 gigs' is not a Kubernetes memory quantity"):
        PoolConfig(instance_type="g6.8xlarge", memory="128 gigs")
    assert memory_bytes("23034Mi") / GIB == pytest.approx(22.494, abs=1e-3)


def test_models_load_in_fp32_on_the_cpu_and_half_precision_on_a_gpu(monkeypatch):
    assert inference_dtype("cpu") is torch.float32
    # No GPU here: what CUDA would answer is substituted (the CPU path above never asks it).
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert inference_dtype("cuda") is torch.bfloat16 and inference_dtype("cuda:1") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # e.g. a T4
    assert inference_dtype("cuda") is torch.float16


def test_the_hf_backend_loads_in_the_dtype_of_the_rule(model_cache_dir):
    from fastdistill.inference.hf import HFBackend
    from fastdistill.models import resolve_model

    backend = HFBackend(resolve_model("tiny:teacher", model_cache_dir), device="cpu")
    assert next(backend.model.parameters()).dtype is inference_dtype("cpu") is torch.float32


def test_quantities_parse_as_kubernetes_does():
    assert memory_bytes("16Gi") == 16 * GIB and memory_bytes("48G") == 48 * 10**9
