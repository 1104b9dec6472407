"""The EKS stack (`cloud = "aws"`), registered from a fabricated `terraform output -json` of infra/terraform/eks
into a real local ZenML store in a tmp dir, as tests/integration/test_k8s_manifests.py does for GKE.

What is faked is the cloud: no EKS cluster, bucket or ECR registry exists, so nothing is pushed or
submitted, and s3fs/boto3 are not needed (ZenML registers the `s3` and `aws` flavors without their
packages; using them would need them). Everything else is real: `run.py stack k8s` and
`register_k8s_stack` create the secret, components and stack in the store, the Kubernetes
orchestrator is instantiated from its stored model, and the image every step Job would run is
named by ZenML's compiler and the orchestrator's manifest builders with the ECR registry.

ZenML runs in a subprocess: it reads ZENML_CONFIG_PATH at import, and the test must never touch
the user's ~/.config/zenml.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "us-east-1"
ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
# The names and shapes of infra/terraform/eks/outputs.tf (values made up); extra outputs are ignored.
AWS_OUTPUTS = {
    "cloud": "aws", "project_id": ACCOUNT, "account_id": ACCOUNT, "region": REGION,
    "cluster_name": "fastdistill", "kubernetes_context": f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/fastdistill",
    "kubernetes_namespace": "zenml", "runner_service_account": "fastdistill-runner",
    "runner_role_arn": f"arn:aws:iam::{ACCOUNT}:role/fastdistill-runner",
    "artifact_bucket": f"fastdistill-{ACCOUNT}-{REGION}-artifacts",
    "artifact_store_path": f"s3://fastdistill-{ACCOUNT}-{REGION}-artifacts/zenml",
    "container_registry_uri": ECR, "pipeline_repository_url": f"{ECR}/fastdistill",
    "mlflow_tracking_uri": "http://mlflow.mlflow.svc.cluster.local:5000", "mlflow_username": "fastdistill",
    "mlflow_password_secret": "fastdistill-mlflow-password",
    "zenml_database_endpoint": None,
}
GKE_OUTPUTS = {
    "cloud": "gcp", "project_id": "demo-project", "region": "europe-west4",
    "kubernetes_context": "gke_demo-project_europe-west4_fastdistill", "kubernetes_namespace": "zenml",
    "runner_service_account": "fastdistill-runner", "artifact_store_path": "gs://demo-project-fastdistill-artifacts/zenml",
    "container_registry_uri": "europe-west4-docker.pkg.dev/demo-project/fastdistill",
    "mlflow_tracking_uri": "http://mlflow.mlflow.svc.cluster.local:5000", "mlflow_username": "fastdistill",
}
PASSWORD = "not-a-real-password-eks-51c2"

SCRIPT = r"""
import json, sys
from pathlib import Path

from zenml.client import Client
from zenml.enums import StackComponentType as T
from zenml.stack import StackComponent

from fastdistill.infra import k8s
from fastdistill.infra.k8s_stack import register_k8s_stack
from fastdistill.run_config import load_run_config, pipeline_sections
from pipelines import distill

aws_path, gke_path, out_path = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
register_k8s_stack(gke_path, password="gke-password")  # a server that knows both clusters
first = register_k8s_stack(aws_path)
second = register_k8s_stack(aws_path)  # idempotent: nothing is duplicated
client = Client()


def described(name):
    stack = client.get_stack(name, allow_name_prefix_match=False)
    return {k.value: [(c.name, c.flavor_name, c.configuration) for c in v] for k, v in stack.components.items()}


aws = described("fastdistill_eks")
counts = {k: client.list_stack_components(type=T(k), name=v[0][0]).total for k, v in aws.items()}
orchestrator = StackComponent.from_model(client.get_stack_component(T.ORCHESTRATOR, "fastdistill_eks_orchestrator"))
document, params = load_run_config(Path("configs/k8s.yaml"))
sections = pipeline_sections(params, distill)
document["steps"] = k8s.expand_step_patterns(document["steps"], k8s.invocation_ids(distill, sections))
snapshot = k8s.compile_for_kubernetes(distill, document, sections, orchestrator)
jobs = k8s.job_manifests(snapshot, orchestrator, aws["container_registry"][0][2]["uri"])
out_path.write_text(json.dumps({
    "first": first.components, "second": second.components, "stack": first.stack_name, "warnings": first.warnings,
    "active": client.active_stack_model.name, "aws": aws, "gke": described("fastdistill_k8s"), "counts": counts,
    "secrets": {n: client.get_secret(n).secret_values for n in ("fastdistill_eks_mlflow", "fastdistill_mlflow")},
    "images": sorted({j["spec"]["template"]["spec"]["containers"][0]["image"] for j in jobs.values()}),
    "context": orchestrator.config.kubernetes_context,
}))
"""


def _outputs_file(path: Path, values: dict) -> Path:
    path.write_text(json.dumps({k: {"sensitive": False, "type": "string", "value": v} for k, v in values.items()}))
    return path


def _env(tmp: Path) -> dict:
    return {**os.environ, "ZENML_CONFIG_PATH": str(tmp / "zenml"), "ZENML_ANALYTICS_OPT_IN": "false",
            "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_PASSWORD": PASSWORD, "COLUMNS": "200"}


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eks")
    aws, gke = _outputs_file(tmp / "eks.json", AWS_OUTPUTS), _outputs_file(tmp / "gke.json", GKE_OUTPUTS)
    script, result = tmp / "register_eks.py", tmp / "result.json"
    script.write_text(SCRIPT)
    # A scratch directory with the configs and seeds: ZenML resolves the script's pipeline against the source
    # root, which would be the project's ZenML repository (.zen) when one exists there.
    for folder in ("configs", "data"):
        shutil.copytree(ROOT / folder, tmp / folder)
    proc = subprocess.run([sys.executable, str(script), str(aws), str(gke), str(result)], cwd=tmp, env=_env(tmp),
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(result.read_text())


def test_the_eks_outputs_register_s3_ecr_local_builder_kubernetes_and_mlflow_once(registered):
    c = registered["aws"]
    assert registered["stack"] == registered["active"] == "fastdistill_eks"
    assert registered["first"] == registered["second"]
    assert all(n == 1 for n in registered["counts"].values())  # the second registration created nothing
    assert c["orchestrator"] == [["fastdistill_eks_orchestrator", "kubernetes", {
        "kubernetes_context": AWS_OUTPUTS["kubernetes_context"], "kubernetes_namespace": "zenml",
        "service_account_name": "fastdistill-runner"}]]
    assert c["artifact_store"] == [["fastdistill_s3", "s3", {
        "path": AWS_OUTPUTS["artifact_store_path"], "client_kwargs": {"region_name": REGION}}]]
    assert c["container_registry"] == [["fastdistill_ecr", "aws", {"uri": ECR}]]
    assert c["image_builder"] == [["fastdistill_eks_image_builder", "local", {}]]
    assert c["model_registry"] == [["fastdistill_eks_mlflow_registry", "mlflow", {}]]
    tracker = c["experiment_tracker"][0]
    assert tracker[:2] == ["fastdistill_eks_mlflow_tracker", "mlflow"]
    assert tracker[2]["tracking_uri"] == AWS_OUTPUTS["mlflow_tracking_uri"]
    assert tracker[2]["tracking_password"] == "{{fastdistill_eks_mlflow.password}}"  # a reference, never the value
    assert PASSWORD not in json.dumps(c)
    assert registered["secrets"]["fastdistill_eks_mlflow"] == {"username": "fastdistill", "password": PASSWORD}


def test_the_gke_stack_registered_before_keeps_its_own_components_and_secret(registered):
    gke = registered["gke"]
    assert gke["orchestrator"][0][2]["kubernetes_context"] == GKE_OUTPUTS["kubernetes_context"]
    assert gke["artifact_store"][0][:2] == ["fastdistill_gcs", "gcp"]
    assert registered["secrets"]["fastdistill_mlflow"]["password"] == "gke-password"


def test_the_step_jobs_run_the_pipeline_image_from_ecr_on_the_eks_context(registered):
    # ZenML puts the image at <registry host>/<target_repository>: the ECR repository `fastdistill` the module creates.
    assert registered["images"] == [f"{ECR}/fastdistill:distill-orchestrator"]
    assert registered["context"] == AWS_OUTPUTS["kubernetes_context"]


def test_the_client_is_told_which_packages_it_lacks_to_use_s3_and_that_its_store_is_local(registered):
    from fastdistill.infra.k8s_stack import missing_client_packages

    assert any("local store" in w for w in registered["warnings"])
    missing = missing_client_packages("aws")
    package_warnings = [w for w in registered["warnings"] if "lacks" in w]
    if missing:  # on these machines s3fs and boto3 are not installed: the warning names them and the fix
        assert package_warnings == [(f"registered, but this client lacks {', '.join(missing)}: running on the stack "
                                     "or reading its artifacts from here fails until you run "
                                     "`zenml integration install aws s3 kubernetes`")]
    else:
        assert package_warnings == []


def test_run_py_stack_k8s_registers_the_eks_stack_and_refuses_cloud_build(tmp_path):
    outputs = _outputs_file(tmp_path / "outputs.json", AWS_OUTPUTS)
    run = [sys.executable, str(ROOT / "run.py"), "stack", "k8s", "--outputs", str(outputs)]
    refused = subprocess.run([*run, "--image-builder", "gcp"], cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                             text=True, timeout=600, check=False)
    assert refused.returncode == 2
    assert "--image-builder gcp: not available with cloud = 'aws' outputs; use one of ['local', 'aws']" in \
        refused.stdout.replace("\n", "")
    proc = subprocess.run(run, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines() if line.startswith("  ")}
    assert lines == {"orchestrator": "fastdistill_eks_orchestrator", "artifact_store": "fastdistill_s3",
                     "container_registry": "fastdistill_ecr", "image_builder": "fastdistill_eks_image_builder",
                     "experiment_tracker": "fastdistill_eks_mlflow_tracker",
                     "model_registry": "fastdistill_eks_mlflow_registry"}
    assert "stack fastdistill_eks active; MLflow at http://mlflow.mlflow.svc.cluster.local:5000" in proc.stdout
