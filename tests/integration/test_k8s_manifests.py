"""The Kubernetes stack and the pods it would run, against a real local ZenML store in a tmp dir.

What is faked is the cloud: the Terraform outputs file is written here (no
GKE, bucket or registry exists), so nothing is submitted. Everything else is
real: `register_k8s_stack` creates the components in the ZenML store, the
orchestrator is instantiated from its stored model, ZenML's compiler compiles
`distill` under configs/k8s.yaml, and each step's Job comes from the manifest
builders of zenml.integrations.kubernetes, as the orchestrator's entrypoint
calls them. The Jobs are validated with the `kubernetes` client's models.

ZenML runs in a subprocess: it reads ZENML_CONFIG_PATH at import, and the test
must never touch the user's ~/.config/zenml.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fastdistill.infra.k8s import (
    GPU_RESOURCE,
    ORCHESTRATOR_JOB,
    placement,
    validate_job,
    validate_manifest,
)

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "europe-west4-docker.pkg.dev/demo-project/fastdistill"
OUTPUTS = {
    "cloud": "gcp", "project_id": "demo-project", "region": "europe-west4",
    "kubernetes_context": "gke_demo-project_europe-west4_fastdistill", "kubernetes_namespace": "zenml",
    "runner_service_account": "fastdistill-runner", "artifact_store_path": "gs://demo-project-fastdistill-artifacts/zenml",
    "container_registry_uri": REGISTRY, "mlflow_tracking_uri": "http://mlflow.mlflow.svc.cluster.local:5000",
    "mlflow_username": "fastdistill", "mlflow_password_secret": "fastdistill-mlflow-password",
}
PASSWORD = "not-a-real-password-7f3a"

SCRIPT = r"""
import inspect, json, sys
from pathlib import Path

from zenml import pipeline, step
from zenml.client import Client
from zenml.enums import StackComponentType as T
from zenml.stack import StackComponent

from fastdistill.infra import k8s
from fastdistill.run_config import load_run_config
from fastdistill.infra.k8s_stack import register_k8s_stack
from pipelines import distill

outputs_path, out_path = Path(sys.argv[1]), Path(sys.argv[2])
first = register_k8s_stack(outputs_path)
second = register_k8s_stack(outputs_path)  # idempotent: nothing is duplicated
client = Client()
stack = client.get_stack("fastdistill_k8s", allow_name_prefix_match=False)
components = {k.value: [(c.name, c.flavor_name, c.configuration) for c in v] for k, v in stack.components.items()}
counts = {k.value: client.list_stack_components(type=k, name=v[0].name).total for k, v in stack.components.items()}
secret = client.get_secret("fastdistill_mlflow").secret_values

orchestrator = StackComponent.from_model(client.get_stack_component(T.ORCHESTRATOR, "fastdistill_k8s_orchestrator"))
registry_uri = components["container_registry"][0][2]["uri"]
document, params = load_run_config(Path("configs/k8s.yaml"))
k8s.check_kubernetes_settings(document)
accepted = set(inspect.signature(distill.entrypoint).parameters)
sections = {name: getattr(params, name) for name in type(params).model_fields if name in accepted}
document["steps"] = k8s.expand_step_patterns(document["steps"], k8s.invocation_ids(distill, sections))
snapshot = k8s.compile_for_kubernetes(distill, document, sections, orchestrator)
distill_jobs = k8s.job_manifests(snapshot, orchestrator, registry_uri)
cron_job = k8s.cron_job_manifest(snapshot, orchestrator, distill_jobs[k8s.ORCHESTRATOR_JOB], "0 3 * * 1")


# How ZenML 0.98 treats steps invoked with generated ids (the sweep's trials):
# `steps:` is keyed by invocation id, so the YAML key `train_student_*` reaches no
# step unless FastDistill expands it first.
@step
def train(x: int) -> int:
    return x


@pipeline
def sweep() -> None:
    for name in ("fkl", "rkl"):
        train(1, id=f"train_student_{name}")


raw, _ = load_run_config(Path("configs/k8s.yaml"))
ids = k8s.invocation_ids(sweep, {})
trial_jobs = {}
for label, steps in (("expanded", k8s.expand_step_patterns(raw["steps"], ids, strict=False)), ("as_written", raw["steps"])):
    doc = {key: value for key, value in raw.items() if key != "parameters"}
    doc["steps"] = steps
    snap = k8s.compile_for_kubernetes(sweep, doc, {}, orchestrator)
    trial_jobs[label] = k8s.job_manifests(snap, orchestrator, registry_uri)

# A scheduled Born-Again chain: the CronJob the orchestrator would create for `run.py schedule`.
from pipelines import born_again

ban_document, ban_params = load_run_config(Path("configs/born_again_k8s.yaml"))
k8s.check_kubernetes_settings(ban_document)
ban_accepted = set(inspect.signature(born_again.entrypoint).parameters)
ban_sections = {name: getattr(ban_params, name) for name in type(ban_params).model_fields if name in ban_accepted}
ban_snapshot = k8s.compile_for_kubernetes(born_again, ban_document, ban_sections, orchestrator)
ban_jobs = k8s.job_manifests(ban_snapshot, orchestrator, registry_uri)
ban_cron = k8s.cron_job_manifest(ban_snapshot, orchestrator, ban_jobs[k8s.ORCHESTRATOR_JOB], "0 3 * * 0")

out_path.write_text(json.dumps({
    "born_again_jobs": ban_jobs, "born_again_cron": ban_cron,
    "first": first.components, "second": second.components, "stack": first.stack_name, "warnings": first.warnings,
    "active": client.active_stack_model.name, "components": components, "counts": counts, "secret": secret,
    "distill": distill_jobs, "cron_job": cron_job, "trials": trial_jobs, "trial_ids": ids,
}))
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("k8s")
    outputs = tmp / "outputs.json"
    outputs.write_text(json.dumps({k: {"sensitive": False, "type": "string", "value": v} for k, v in OUTPUTS.items()}))
    script, result = tmp / "compile_k8s.py", tmp / "result.json"
    script.write_text(SCRIPT)
    env = {**os.environ, "ZENML_CONFIG_PATH": str(tmp / "zenml"), "ZENML_ANALYTICS_OPT_IN": "false",
           "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_PASSWORD": PASSWORD}
    # Run from a scratch directory holding the configs and seeds: ZenML resolves the script's own pipeline
    # against the source root, which would be the project's ZenML repository (.zen) when one exists there.
    for folder in ("configs", "data"):
        shutil.copytree(ROOT / folder, tmp / folder)
    proc = subprocess.run([sys.executable, str(script), str(outputs), str(result)], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(result.read_text())


def test_stack_k8s_registers_six_components_from_terraform_outputs_once(compiled):
    c = compiled["components"]
    assert compiled["stack"] == compiled["active"] == "fastdistill_k8s"
    assert compiled["first"] == compiled["second"]
    assert all(n == 1 for n in compiled["counts"].values())  # the second registration created nothing
    assert c["orchestrator"] == [["fastdistill_k8s_orchestrator", "kubernetes", {
        "kubernetes_context": OUTPUTS["kubernetes_context"], "kubernetes_namespace": "zenml",
        "service_account_name": "fastdistill-runner"}]]
    assert c["artifact_store"] == [["fastdistill_gcs", "gcp", {"path": OUTPUTS["artifact_store_path"]}]]
    assert c["container_registry"] == [["fastdistill_gar", "gcp", {"uri": REGISTRY}]]
    assert c["image_builder"] == [["fastdistill_image_builder", "gcp", {}]]
    assert c["model_registry"] == [["fastdistill_k8s_mlflow_registry", "mlflow", {}]]
    tracker = c["experiment_tracker"][0]
    assert tracker[:2] == ["fastdistill_k8s_mlflow_tracker", "mlflow"]
    assert tracker[2]["tracking_uri"] == OUTPUTS["mlflow_tracking_uri"]
    assert tracker[2]["tracking_password"] == "{{fastdistill_mlflow.password}}"  # a reference, never the value
    assert PASSWORD not in json.dumps(c)
    assert compiled["secret"] == {"username": "fastdistill", "password": PASSWORD}
    assert any("local store" in w for w in compiled["warnings"])


def expected_pool(step: str) -> str:
    """Where configs/k8s.yaml must put a step: by rule, so new steps (the sweep's trials) are covered too."""
    if step in ("synthesize", "teacher_inference", "evaluate"):  # the teacher with vLLM; evaluate's three models
        return "gpu-inference"
    if step == "train_student" or step.startswith("train_student_"):
        return "gpu-train"
    return "system"


def test_every_job_of_distill_is_a_valid_kubernetes_job(compiled):
    jobs = compiled["distill"]
    assert list(jobs)[0] == ORCHESTRATOR_JOB
    assert {"load_seeds", "synthesize", "quality_gate", "teacher_inference", "evaluate"} <= set(jobs)
    for step, job in jobs.items():
        model = validate_job(job, step)
        pod = model.spec.template.spec
        assert pod.containers[0].image == f"{REGISTRY}/fastdistill:distill-orchestrator"
        assert pod.service_account_name == "fastdistill-runner"  # workload identity, and the Role that starts Jobs
        if step == ORCHESTRATOR_JOB:
            assert pod.containers[0].command[-1].endswith("kubernetes_orchestrator_entrypoint")
            continue
        assert pod.containers[0].args[-2:] == ["--step_name", step]
        assert [e.secret_ref.name for e in pod.containers[0].env_from] == ["fastdistill-hub-token"]
        rules = model.spec.pod_failure_policy.rules
        assert [(r.action, r.on_pod_conditions[0].status if r.on_pod_conditions else None) for r in rules] == [
            ("Count", None), ("Ignore", "True")]


def test_gpus_node_selectors_and_tolerations_land_on_the_gpu_steps_and_nowhere_else(compiled):
    rows = {row.step: row for row in placement(compiled["distill"])}
    assert rows[ORCHESTRATOR_JOB].pool == "system" and rows[ORCHESTRATOR_JOB].gpus == 0
    for step, row in rows.items():
        if step == ORCHESTRATOR_JOB:
            continue
        gpu = expected_pool(step) != "system"
        assert (row.pool, row.gpus) == (expected_pool(step), 1 if gpu else 0), step
        assert row.tolerations == (("nvidia.com/gpu:NoSchedule",) if gpu else ()), step
        spec = compiled["distill"][step]["spec"]["template"]["spec"]
        resources = spec["containers"][0]["resources"]
        assert (GPU_RESOURCE in resources["requests"]) == gpu and (GPU_RESOURCE in resources.get("limits", {})) == gpu
        # vLLM and NCCL need a /dev/shm larger than the container default of 64 MiB.
        mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0].get("volumeMounts") or []}
        assert (mounts.get("/dev/shm") == "dshm") == gpu
        if gpu:
            assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in spec["volumes"]
    assert rows["teacher_inference"].gpus == 1 and rows["train_student"].pool == "gpu-train"


def test_sweep_trials_with_generated_ids_get_the_training_pool_only_once_expanded(compiled):
    assert compiled["trial_ids"] == ["train_student_fkl", "train_student_rkl"]
    expanded = {row.step: (row.pool, row.gpus) for row in placement(compiled["trials"]["expanded"])
                if row.step != ORCHESTRATOR_JOB}
    assert expanded == {"train_student_fkl": ("gpu-train", 1), "train_student_rkl": ("gpu-train", 1)}
    # ZenML itself drops the `train_student_*` key (no invocation has that id): the trials would fall back to
    # the pipeline-level CPU placement. This is why run.py expands glob keys before ZenML reads the file.
    as_written = {row.step: (row.pool, row.gpus) for row in placement(compiled["trials"]["as_written"])
                  if row.step != ORCHESTRATOR_JOB}
    assert as_written == {"train_student_fkl": ("system", 0), "train_student_rkl": ("system", 0)}


def test_a_scheduled_run_becomes_a_valid_cronjob_that_never_overlaps(compiled):
    cron = validate_manifest(compiled["cron_job"], "V1CronJob", "cron")
    assert cron.kind == "CronJob" and cron.spec.schedule == "0 3 * * 1"
    assert cron.spec.concurrency_policy == "Forbid"  # a Born-Again generation still running is not doubled
    assert (cron.spec.successful_jobs_history_limit, cron.spec.failed_jobs_history_limit) == (3, 3)
    pod = cron.spec.job_template.spec.template.spec
    assert pod.node_selector == {"pool": "system"} and pod.service_account_name == "fastdistill-runner"
    assert pod.containers[0].command[-1].endswith("kubernetes_orchestrator_entrypoint")


def test_a_scheduled_born_again_chain_is_a_cronjob_whose_generations_never_overlap(compiled):
    cron = validate_manifest(compiled["born_again_cron"], "V1CronJob", "born-again cron")
    assert cron.spec.schedule == "0 3 * * 0" and cron.spec.concurrency_policy == "Forbid"
    container = cron.spec.job_template.spec.template.spec.containers[0]
    assert container.image.startswith(REGISTRY) and container.image == compiled["born_again_jobs"]["teacher_inference"][
        "spec"]["template"]["spec"]["containers"][0]["image"]
    rows = {row.step: row for row in placement(compiled["born_again_jobs"]) if row.step != ORCHESTRATOR_JOB}
    for step in ("teacher_inference", "original_teacher_inference", "evaluate"):
        assert (rows[step].pool, rows[step].gpus) == ("gpu-inference", 1), step
    assert (rows["train_student"].pool, rows["train_student"].gpus) == ("gpu-train", 1)
    for step in ("plan_generation", "score_against_original", "register_generation"):
        assert (rows[step].pool, rows[step].gpus) == ("system", 0), step
