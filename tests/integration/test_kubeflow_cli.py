"""`run.py stack kubeflow`: the Kubeflow Pipelines stack, and its dry run that compiles the KFP pipeline spec.

Nothing is mocked but the cluster, which cannot exist here: the dry run is
ZenML's compiler and the `fastdistill_kubeflow` orchestrator's own
`submit_pipeline` (ZenML's Kubeflow orchestrator plus the pod settings),
written by `kfp.compiler.Compiler`; only the upload is left out. The spec is
read back here as plain YAML, the file KFP's API server would receive.
Registration goes into a real local ZenML store in a tmp dir, from a
fabricated `terraform output -json` (no GKE project exists).

kfp caps protobuf below 7 while .venv has 7.x (pyproject.toml's `kubeflow`
extra), so the commands that compile run in .venv-kfp, which `make test`
creates (scripts/setup.sh --with-kfp); so does registration, since ZenML imports a
flavor's orchestrator (and with it kfp) to store the flavor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KFP_PYTHON = ROOT / ".venv-kfp" / "bin" / "python"
CONFIG = ROOT / "configs" / "k8s.yaml"
REGISTRY = "europe-west4-docker.pkg.dev/demo-project/fastdistill"
GKE_OUTPUTS = {
    "cloud": "gcp", "project_id": "demo-project", "region": "europe-west4",
    "kubernetes_context": "gke_demo-project_europe-west4_fastdistill", "kubernetes_namespace": "zenml",
    "runner_service_account": "fastdistill-runner",
    "artifact_store_path": "gs://demo-project-fastdistill-artifacts/zenml",
    "container_registry_uri": REGISTRY,
    "mlflow_tracking_uri": "http://mlflow.mlflow.svc.cluster.local:5000", "mlflow_username": "fastdistill",
}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _kfp_python() -> str:
    if not KFP_PYTHON.exists():
        message = ".venv-kfp is missing: `bash scripts/setup.sh --with-kfp` creates it (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return str(KFP_PYTHON)


def _run(python: str, tmp: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp / "zenml"), "COLUMNS": "200", **(env or {})}
    return subprocess.run([python, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
                          check=False)


def _outputs(tmp: Path) -> Path:
    path = tmp / "outputs.json"
    path.write_text(json.dumps({name: {"value": value, "type": "string"} for name, value in GKE_OUTPUTS.items()}))
    return path


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kfp")
    spec = tmp / "spec" / "distill.yaml"
    proc = _run(_kfp_python(), tmp, "run.py", "stack", "kubeflow", "--dry-run", "--config", str(CONFIG),
                "--outputs", str(_outputs(tmp)), "--output", str(spec))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    documents = list(yaml.safe_load_all(spec.read_text()))
    return proc, documents, tmp


def _invocation_ids(tmp: Path) -> list[str]:
    """The distill pipeline's step ids for configs/k8s.yaml, from ZenML's own preparation of the pipeline."""
    script = ("import json; from pathlib import Path; "
              "from fastdistill.cli.common import load_config, distill_pipeline; "
              "from fastdistill.infra.k8s import invocation_ids; from fastdistill.run_config import pipeline_sections; "
              f"_, params = load_config(Path({str(CONFIG)!r})); p = distill_pipeline(); "
              "print(json.dumps(invocation_ids(p, pipeline_sections(params, p))))")
    proc = _run(sys.executable, tmp, "-c", script)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _tasks(documents: list[dict]) -> dict[str, dict]:
    """step -> its container (image, command, args, resources) and its Kubernetes platform config."""
    spec = documents[0]
    platform = next(d for d in documents[1:] if d and "platforms" in d)["platforms"]["kubernetes"]
    tasks = {}
    for task in spec["root"]["dag"]["tasks"].values():
        executor = spec["components"][task["componentRef"]["name"]]["executorLabel"]
        tasks[task["taskInfo"]["name"]] = {
            "container": spec["deploymentSpec"]["executors"][executor]["container"],
            "kubernetes": platform["deploymentSpec"]["executors"].get(executor, {}),
            "after": task.get("dependentTasks", []),
        }
    return tasks


def _placed_in_config() -> tuple[dict, dict[str, dict]]:
    """The run-wide pod settings and each step's own, as configs/k8s.yaml writes them (the one placement)."""
    document = yaml.safe_load(CONFIG.read_text())
    run_wide = document["settings"]["orchestrator.kubernetes"]["pod_settings"]
    steps = {step: config["settings"]["orchestrator.kubernetes"]["pod_settings"]
             for step, config in document["steps"].items() if "*" not in step}
    return run_wide, steps


def test_the_spec_holds_every_step_of_the_pipeline_in_its_order(compiled):
    proc, documents, tmp = compiled
    tasks = _tasks(documents)
    assert sorted(tasks) == sorted(_invocation_ids(tmp))
    # Each task runs its own ZenML step in the image ZenML would build and push to the outputs' registry.
    for step, task in tasks.items():
        container = task["container"]
        assert container["image"] == f"{REGISTRY}/fastdistill:distill-orchestrator"
        assert container["command"] == ["python", "-m", "zenml.entrypoints.entrypoint"]
        assert container["args"][container["args"].index("--step_name") + 1] == step
    # The DAG is the pipeline's: the teacher labels what the gate kept; evaluation waits for the sweep's winner.
    assert "quality-gate" in tasks["teacher_inference"]["after"]
    assert {"select-best", "teacher-inference"} <= set(tasks["evaluate"]["after"])
    assert tasks["load_seeds"]["after"] == []
    assert "nothing uploaded" in proc.stdout


def test_gpu_steps_carry_their_pool_toleration_and_gpus_and_cpu_steps_do_not(compiled):
    _, documents, _ = compiled
    tasks = _tasks(documents)
    run_wide, own = _placed_in_config()
    gpu_steps = {step for step, pod in own.items() if "nvidia.com/gpu" in pod["resources"]["limits"]}
    assert {"synthesize", "teacher_inference", "evaluate", "train_student"} <= gpu_steps
    for step, task in tasks.items():
        pod = own.get(step, run_wide)
        resources, kubernetes = task["container"]["resources"], task["kubernetes"]
        assert kubernetes["nodeSelector"] == {"labels": pod["node_selectors"]}, step
        assert resources["resourceCpuRequest"] == pod["resources"]["requests"]["cpu"], step
        assert resources["resourceMemoryRequest"] == pod["resources"]["requests"]["memory"], step
        assert resources.get("resourceMemoryLimit") == pod["resources"]["limits"].get("memory"), step
        if step in gpu_steps:
            assert kubernetes["nodeSelector"]["labels"]["pool"].startswith("gpu-"), step
            assert kubernetes["tolerations"] == [GPU_TOLERATION], step
            assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu", step
            assert resources["accelerator"]["resourceCount"] == pod["resources"]["limits"]["nvidia.com/gpu"] == "1"
            # vLLM's and NCCL's shared memory, as on the Kubernetes orchestrator.
            assert kubernetes["emptyDirMounts"] == [
                {"volumeName": "dshm", "mountPath": "/dev/shm", "medium": "Memory", "sizeLimit": "16Gi"}], step
        else:
            assert kubernetes["nodeSelector"]["labels"] == {"pool": "system"}, step
            assert "tolerations" not in kubernetes and "accelerator" not in resources, step
    assert tasks["train_student"]["kubernetes"]["nodeSelector"]["labels"] == {"pool": "gpu-train"}
    assert tasks["teacher_inference"]["kubernetes"]["nodeSelector"]["labels"] == {"pool": "gpu-inference"}


def test_the_dry_run_shows_the_placement_and_names_what_kfp_cannot_carry(compiled):
    proc, _, _ = compiled
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in proc.stdout.splitlines() if line.startswith("│")}
    assert rows["train_student"] == ["gpu-train", "1", "8", "64Gi", "nvidia.com/gpu:NoSchedule"]
    assert rows["load_seeds"] == ["system", "0", "2", "8Gi", "-"]
    # The hub-token secret is mounted with envFrom, which a KFP 2 task has no field for: said, not dropped silently.
    assert "KFP cannot carry the pod setting env_from (every step): it is not applied on Kubeflow" in proc.stdout


def test_stack_kubeflow_registers_the_k8s_components_with_the_kubeflow_orchestrator(tmp_path):
    outputs = _outputs(tmp_path)
    proc = _run(_kfp_python(), tmp_path, "run.py", "stack", "kubeflow", "--outputs", str(outputs),
                env={"MLFLOW_TRACKING_PASSWORD": "not-a-real-password-kfp-7d1e"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "stack fastdistill_kubeflow active" in proc.stdout
    check = r"""
import json
from zenml.client import Client
from zenml.enums import StackComponentType as T
from zenml.stack import StackComponent
client = Client()
stack = client.active_stack_model
components = {kind.value: found[0] for kind, found in stack.components.items()}
orchestrator = StackComponent.from_model(components["orchestrator"])
import yaml
from fastdistill.infra.kubeflow import for_active_stack
placed = for_active_stack(yaml.safe_load(open("configs/k8s.yaml")))["steps"]["train_student"]["settings"]
print(json.dumps({"placed": placed,"stack": stack.name, "names": {k: c.name for k, c in components.items()},
                  "flavor": components["orchestrator"].flavor_name,
                  "config": components["orchestrator"].configuration,
                  "class": type(orchestrator).__name__, "settings": orchestrator.settings_class.__name__}))
"""
    # The stored flavor is code: the orchestrator is built from it, as the client does before a run.
    script = tmp_path / "check.py"  # a file: ZenML finds the source root of stored flavors from the main module's
    script.write_text(check)
    stored = _run(_kfp_python(), tmp_path, str(script), env={"PYTHONPATH": str(ROOT)})
    assert stored.returncode == 0, stored.stderr[-2000:]
    found = json.loads(stored.stdout.strip().splitlines()[-1])
    assert found["stack"] == "fastdistill_kubeflow"
    assert found["flavor"] == "fastdistill_kubeflow"
    assert found["class"] == "PlacedKubeflowOrchestrator" and found["settings"] == "PlacedKubeflowOrchestratorSettings"
    assert found["config"]["kubernetes_context"] == GKE_OUTPUTS["kubernetes_context"]
    assert found["config"]["kubeflow_namespace"] == "kubeflow"
    # What a run on this stack hands ZenML: the step's one placement, under the Kubeflow orchestrator's key.
    assert found["placed"] == {"orchestrator.fastdistill_kubeflow": {"pod_settings": _placed_in_config()[1][
        "train_student"]}}
    # Every other component is the Kubernetes stack's (run.py stack k8s), shared, not duplicated.
    assert {k: v for k, v in found["names"].items() if k != "orchestrator"} == {
        "artifact_store": "fastdistill_gcs", "container_registry": "fastdistill_gar",
        "image_builder": "fastdistill_image_builder", "experiment_tracker": "fastdistill_k8s_mlflow_tracker",
        "model_registry": "fastdistill_k8s_mlflow_registry"}


def test_stack_kubeflow_refuses_two_endpoints_and_any_use_without_kfp(tmp_path):
    outputs = _outputs(tmp_path)
    both = _run(_kfp_python(), tmp_path, "run.py", "stack", "kubeflow", "--outputs", str(outputs), "--kfp-host",
                "https://kubeflow.example.com/pipeline", "--kube-context", "ctx",
                env={"MLFLOW_TRACKING_PASSWORD": "x"})
    assert both.returncode == 2
    assert "give exactly one of --kfp-host URL" in both.stdout.replace("\n", " ")
    # .venv has no kfp (its protobuf is too new): a clear refusal naming .venv-kfp, before anything is written.
    for args in (["--dry-run", "--output", str(tmp_path / "spec.yaml")], ["--outputs", str(outputs)]):
        no_kfp = _run(sys.executable, tmp_path, "run.py", "stack", "kubeflow", *args,
                      env={"MLFLOW_TRACKING_PASSWORD": "x"})
        assert no_kfp.returncode == 2, args
        assert "kfp and kfp-kubernetes are not installed here: use .venv-kfp/bin/python" in \
            no_kfp.stdout.replace("\n", " "), args
    assert not (tmp_path / "spec.yaml").exists()
