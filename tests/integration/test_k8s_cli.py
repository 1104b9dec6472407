"""run.py's Kubernetes entry points as a user calls them (no cluster: the dry run builds the Jobs in memory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# Llama-2-7B's shape: 6.74B parameters (untied embeddings).
LLAMA_7B = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
            "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096,
            "tie_word_embeddings": False, "rms_norm_eps": 1e-5}


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def _table(stdout: str) -> dict[str, list[str]]:
    """The dry run's table: step -> its other cells (pool, GPUs, CPU, memory, tolerations, model weights)."""
    return {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in stdout.splitlines() if line.startswith("│")}


# Where configs/k8s.yaml and configs/k8s_eks.yaml put each step: the pools have the same names on both clouds.
GPU_INFERENCE_STEPS = ("synthesize", "teacher_inference", "evaluate")  # the teacher with vLLM; evaluate's three models


def _expected_pools(rows: dict) -> dict:
    gpu_train = {s for s in rows if s == "train_student" or s.startswith("train_student_")}
    assert gpu_train  # training exists under one id or another
    return ({s: ["system", "0"] for s in rows} | {s: ["gpu-inference", "1"] for s in GPU_INFERENCE_STEPS}
            | {s: ["gpu-train", "1"] for s in gpu_train})


@pytest.mark.parametrize("config", ["configs/k8s.yaml", "configs/k8s_eks.yaml"], ids=["gke", "eks"])
def test_dry_run_prints_each_steps_pool_gpus_and_model_weights(tmp_path, config):
    proc = _cli(tmp_path, "distill", "--config", config, "--dry-run")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = _table(proc.stdout)
    assert {step: cells[:2] for step, cells in rows.items()} == _expected_pools(rows)
    assert {"(orchestrator)", "load_seeds", "synthesize", "quality_gate", "teacher_inference", "evaluate"} <= set(rows)
    # The packaged teacher: 134.5M parameters; evaluate holds student (20 of its 30 layers), teacher (the judge) in bf16.
    assert rows["teacher_inference"][-1] == "0.3 GiB: teacher (vLLM 16-bit)"
    assert rows["evaluate"][-1] == "0.4 GiB: student (bf16), teacher (bf16)"
    assert rows["train_student"][-1] == "1.5 GiB: student (training 16 B/param)"
    assert rows["load_seeds"][-1] == "-"
    assert "image (every step): <container registry>/fastdistill:distill-orchestrator, built on " \
           "infra/docker/cuda.Dockerfile" in proc.stdout
    assert f"{config}: valid" in proc.stdout


def test_the_eks_config_is_the_gke_one_with_the_eks_node_groups():
    gke, eks = (yaml.safe_load((ROOT / "configs" / name).read_text()) for name in ("k8s.yaml", "k8s_eks.yaml"))
    assert eks["parameters"]["cluster"]["pools"] == {
        "system": {"instance_type": "m6i.2xlarge", "memory": "32Gi"},
        "gpu-inference": {"instance_type": "g6.8xlarge", "memory": "128Gi", "gpus": 1, "gpu_memory": "23034Mi"},
        "gpu-train": {"instance_type": "g6e.4xlarge", "memory": "128Gi", "gpus": 1, "gpu_memory": "46068Mi"},
    }
    for document in (gke, eks):
        del document["parameters"]["cluster"], document["model"]["tags"]
    assert eks == gke  # parameters, settings and every step's placement: one edit must go to both files


def test_a_step_whose_models_do_not_fit_its_pod_is_refused_with_the_estimate(tmp_path):
    # A 7B teacher described by its config.json alone (no weights: nothing is loaded, its size comes from the
    # config on PyTorch's meta device), with evaluate moved back to the CPU pool's 16Gi limit.
    teacher = tmp_path / "llama-7b"
    teacher.mkdir()
    (teacher / "config.json").write_text(json.dumps(LLAMA_7B))
    document = yaml.safe_load((ROOT / "configs" / "k8s_eks.yaml").read_text())
    document["parameters"]["teacher"].update(model=str(teacher), backend="hf")
    del document["steps"]["evaluate"]
    config = tmp_path / "too_big.yaml"
    config.write_text(yaml.safe_dump(document))
    proc = _cli(tmp_path, "distill", "--config", str(config), "--dry-run")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout.replace("\n" + " " * (len(str(config)) + 2), "\n")  # one problem a line, unindented
    evaluate = [line for line in out.splitlines() if "steps.evaluate:" in line]
    assert len(evaluate) == 1 and evaluate[0].endswith(
        f"steps.evaluate: loads student 20 layers of {teacher} (4.31B parameters, float32: 16.1 GiB) + teacher "
        f"{teacher} (6.74B parameters, float32: 25.1 GiB) = 41.2 GiB of weights, more than its pod holds (memory "
        "limit 16.0 GiB); place it on a pool with more memory or use smaller models")
    # Training that student keeps fp32 weights, gradients and AdamW's moments: 16 bytes a parameter, more than
    # the L40S holds. The GPU inference steps hold the teacher in bf16 (12.6 GiB) on an L4 (22.5 GiB): accepted.
    assert "steps.train_student: loads student 20 layers of" in out and "(4.31B parameters, training: fp32 " \
        "weights, gradients, AdamW: 64.2 GiB) = 64.2 GiB of weights, more than its pod holds (1 x 46068Mi GPU on " \
        "pool gpu-train (45.0 GiB))" in out
    assert not any(s in out for s in ("steps.synthesize:", "steps.teacher_inference:"))
    assert "Kubernetes placement" not in out  # refused before any Job is built


def test_a_pod_requesting_more_memory_than_its_pools_nodes_have_is_refused(tmp_path):
    # GKE's inference pool (g2-standard-12, 48 GB) cannot give a pod the 64Gi the configs once requested.
    document = yaml.safe_load((ROOT / "configs" / "k8s.yaml").read_text())
    document["steps"]["teacher_inference"]["settings"]["orchestrator.kubernetes"]["pod_settings"]["resources"] = {
        "requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}
    config = tmp_path / "pending.yaml"
    config.write_text(yaml.safe_dump(document))
    proc = _cli(tmp_path, "distill", "--config", str(config), "--dry-run")
    assert proc.returncode == 2
    assert ("steps.teacher_inference.settings.orchestrator.kubernetes.pod_settings.resources.requests.memory: 64 GiB, "
            "but a gpu-inference node (g2-standard-12, 48Gi) gives pods about 43 GiB: the pod would stay Pending") \
        in proc.stdout.replace("\n", " ")


def test_a_misspelled_pod_setting_stops_the_run_before_anything_starts(tmp_path):
    document = yaml.safe_load((ROOT / "configs" / "k8s.yaml").read_text())
    pod = document["steps"]["train_student"]["settings"]["orchestrator.kubernetes"]["pod_settings"]
    pod["node_selector"] = pod.pop("node_selectors")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(document))
    proc = _cli(tmp_path, "distill", "--config", str(bad))
    assert proc.returncode == 2
    assert "steps.train_student.settings.orchestrator.kubernetes.pod_settings.node_selector: not a pod setting" \
        in proc.stdout
    assert not (tmp_path / "zenml").exists()  # nothing registered, nothing run


def test_stack_k8s_names_the_missing_output_and_keeps_python_run_py_stack_local(tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"cloud": {"value": "gcp", "type": "string"}}))
    proc = _cli(tmp_path, "stack", "k8s", "--outputs", str(outputs))
    assert proc.returncode == 2
    assert f"{outputs}: output 'kubernetes_context': Field required" in proc.stdout.replace("\n", "")
    helped = _cli(tmp_path, "stack", "--help")
    assert "Create and activate the local ZenML + MLflow stack" in helped.stdout and "k8s" in helped.stdout
