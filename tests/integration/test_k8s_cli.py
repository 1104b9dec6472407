"""run.py's Kubernetes entry points as a user calls them (no cluster: the dry run builds the Jobs in memory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp_path / "zenml"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_dry_run_prints_each_steps_pool_and_gpus(tmp_path):
    proc = _cli(tmp_path, "distill", "--config", "configs/k8s.yaml", "--dry-run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:4]]
            for line in proc.stdout.splitlines() if line.startswith("│")}
    gpu_train = {s for s in rows if s == "train_student" or s.startswith("train_student_")}
    expected = {s: ["system", "0"] for s in rows} | {"synthesize": ["gpu-inference", "1"], "teacher_inference": ["gpu-inference", "1"]} | {
        s: ["gpu-train", "1"] for s in gpu_train}
    assert rows == expected
    assert {"(orchestrator)", "load_seeds", "synthesize", "quality_gate", "teacher_inference", "evaluate"} <= set(rows)
    assert gpu_train  # training exists under one id or another
    assert "image (every step): <container registry>/fastdistill:distill-orchestrator, built on " \
           "infra/docker/cuda.Dockerfile" in proc.stdout
    assert "configs/k8s.yaml: valid" in proc.stdout


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
