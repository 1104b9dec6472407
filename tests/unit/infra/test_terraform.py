"""infra/terraform: invariants read from the parsed HCL, checkov, and no secret literal in infra/ or configs/.

No `terraform validate`/`plan`: no Terraform binary or provider can be
downloaded where the suite runs. checkov runs from its own virtualenv
(.venv-checkov, created by `scripts/setup.sh --with-checkov`, which `make test` runs: its pins clash with the project's).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.hcl import blocks

ROOT = Path(__file__).resolve().parents[3]
GKE = ROOT / "infra" / "terraform" / "gke"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _blocks(kind: str) -> dict:
    return blocks(GKE, kind)


@pytest.fixture(scope="module")
def resources():
    return _blocks("resource")


def test_gpu_pools_scale_from_zero_are_tainted_and_get_nvidia_drivers(resources):
    gpu = resources[("google_container_node_pool", "gpu")]
    assert gpu["for_each"] == "${var.gpu_pools}"
    assert gpu["autoscaling"][0]["total_min_node_count"] == 0
    node = gpu["node_config"][0]
    assert node["taint"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert node["labels"] == "${merge(var.labels, {pool = each.key})}"
    assert node["spot"] == "${each.value.spot}"
    assert node["guest_accelerator"][0]["gpu_driver_installation_config"][0]["gpu_driver_version"] == \
        "${each.value.driver_version}"
    pools = _blocks("variable")["gpu_pools"]["default"]
    assert sorted(pools) == ["gpu-inference", "gpu-train"]
    assert all(p["max_nodes"] >= 1 and p["gpus_per_node"] >= 1 for p in pools.values())


def test_the_pools_match_the_node_selectors_of_configs_k8s_yaml(resources):
    document = yaml.safe_load((ROOT / "configs" / "k8s.yaml").read_text())
    selected = {document["settings"]["orchestrator.kubernetes"]["pod_settings"]["node_selectors"]["pool"]}
    for config in document["steps"].values():
        selected.add(config["settings"]["orchestrator.kubernetes"]["pod_settings"]["node_selectors"]["pool"])
    system = resources[("google_container_node_pool", "system")]
    assert "taint" not in system["node_config"][0]  # CPU steps need no toleration
    assert system["node_config"][0]["labels"] == "${merge(var.labels, {pool = \"system\"})}"
    assert selected == {"system"} | set(_blocks("variable")["gpu_pools"]["default"])


def test_configs_k8s_yaml_describes_the_pools_the_gke_module_creates():
    # The checks before a run size pods and models against parameters.cluster.pools: it must be this module's.
    variables = _blocks("variable")
    gpu_pools = variables["gpu_pools"]["default"]
    pools = yaml.safe_load((ROOT / "configs" / "k8s.yaml").read_text())["parameters"]["cluster"]["pools"]
    assert set(pools) == {"system"} | set(gpu_pools)
    assert pools["system"]["instance_type"] == variables["system_machine_type"]["default"]
    for name, pool in gpu_pools.items():
        assert (pools[name]["instance_type"], pools[name]["gpus"]) == (pool["machine_type"], pool["gpus_per_node"])


def test_every_gpu_request_fits_on_one_node_of_its_pool():
    # A pod asking for more GPUs than a node of its pool has would stay Pending forever (the autoscaler cannot help).
    from fastdistill.infra.k8s import gpu_limit

    document = yaml.safe_load((ROOT / "configs" / "k8s.yaml").read_text())
    pools = _blocks("variable")["gpu_pools"]["default"]
    requests = {step: (c["settings"]["orchestrator.kubernetes"]["pod_settings"]["node_selectors"]["pool"],
                       gpu_limit(c["settings"]["orchestrator.kubernetes"]["pod_settings"]))
                for step, c in document["steps"].items()}
    assert {pool for pool, gpus in requests.values() if gpus} == set(pools)
    for step, (pool, gpus) in requests.items():
        assert gpus <= pools[pool]["gpus_per_node"], f"{step} asks for {gpus} GPUs, {pool} nodes have {pools[pool]['gpus_per_node']}"


def test_cluster_is_private_with_workload_identity(resources):
    cluster = resources[("google_container_cluster", "main")]
    assert cluster["private_cluster_config"][0]["enable_private_nodes"] is True
    assert cluster["workload_identity_config"][0]["workload_pool"] == "${var.project_id}.svc.id.goog"
    assert cluster["remove_default_node_pool"] is True
    sql = resources[("google_sql_database_instance", "mlflow")]
    assert sql["settings"][0]["ip_configuration"][0]["ipv4_enabled"] is False


def test_the_bucket_is_not_public(resources):
    bucket = resources[("google_storage_bucket", "artifacts")]
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["versioning"][0]["enabled"] is True
    text = "\n".join(p.read_text() for p in GKE.glob("*.tf"))
    assert "allUsers" not in text and "allAuthenticatedUsers" not in text


def test_outputs_cover_what_stack_registration_reads_and_carry_no_secret():
    from fastdistill.infra.k8s_stack import StackOutputs

    outputs = _blocks("output")
    assert set(StackOutputs.model_fields) <= set(outputs)
    assert not any(o.get("sensitive") for o in outputs.values())
    assert not any("random_password" in str(o["value"]) for o in outputs.values())


SECRET_PATTERNS = {
    "a literal password/token/secret value": re.compile(
        r"""(?ix)(password|passwd|secret|token|api_?key)["']?\s*[:=]\s*["'](?![$<{])[^"'\s]{6,}["']"""),
    "a Hugging Face token": re.compile(r"hf_[A-Za-z0-9]{30,}"),
    "an AWS access key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a GCP service-account key": re.compile(r'"type"\s*:\s*"service_account"'),
}


def test_no_secret_literal_in_infra_or_configs():
    files = [p for d in ("infra", "configs") for p in (ROOT / d).rglob("*") if p.is_file() and ".terraform" not in p.parts]
    assert len(files) > 10
    hits = [f"{p.relative_to(ROOT)}: {what}" for p in files for what, rx in SECRET_PATTERNS.items()
            if rx.search(p.read_text(errors="ignore"))]
    assert hits == []
    # And the detector does detect: the same patterns flag planted literals.
    planted = 'password = "hunter2hunter2"\nHF_TOKEN: "hf_' + "a" * 34 + '"\n'
    assert sum(bool(rx.search(planted)) for rx in SECRET_PATTERNS.values()) == 2


def test_secrets_reach_pods_only_by_reference():
    document = yaml.safe_load((ROOT / "configs" / "k8s.yaml").read_text())
    pods = [document["settings"]["orchestrator.kubernetes"]["pod_settings"]] + [
        c["settings"]["orchestrator.kubernetes"]["pod_settings"] for c in document["steps"].values()]
    for pod in pods:
        assert all("value" not in e for e in pod.get("env", [])), "env values must come from valueFrom"
        assert [e["secretRef"]["name"] for e in pod["env_from"]] == ["fastdistill-hub-token"]


def test_the_mlflow_image_has_what_both_clusters_mlflow_servers_import():
    # Both clusters run `mlflow server --app-name basic-auth` (Flask-WTF: the `auth` extra) on PostgreSQL; the
    # EKS start script reads Secrets Manager with boto3, which also serves S3 artifacts; GKE's use GCS.
    pins = dict(re.findall(r"'?([A-Za-z0-9_.\[\]-]+)==([0-9.]+)'?", (ROOT / "infra/docker/mlflow.Dockerfile").read_text()))
    project_mlflow = re.search(r'"mlflow==([0-9.]+)"', (ROOT / "pyproject.toml").read_text())[1]
    assert pins.pop("mlflow[auth]") == project_mlflow  # the server speaks the clients' version
    assert set(pins) == {"psycopg2-binary", "google-cloud-storage", "boto3"}
    eks = (ROOT / "infra/terraform/eks/manifests/mlflow.yaml").read_text()
    assert "import boto3" in eks and '"--app-name", "basic-auth"' in eks
    assert '"--app-name", "basic-auth"' in (GKE / "mlflow.tf").read_text()


@pytest.mark.skipif(not CHECKOV.exists(), reason=f"checkov is not installed: {CHECKOV} is created by scripts/setup.sh --with-checkov (make test)")
def test_checkov_finds_no_failed_check_and_every_skip_has_a_reason():
    proc = subprocess.run([str(CHECKOV), "-d", str(ROOT / "infra" / "terraform"), "--framework", "terraform",
                           "--skip-download", "-o", "json"], capture_output=True, text=True, timeout=600, check=False)
    report = json.loads(proc.stdout)
    summary, results = report["summary"], report["results"]
    failed = [(c["check_id"], c["resource"]) for c in results.get("failed_checks", [])]
    assert failed == [] and proc.returncode == 0
    assert summary["parsing_errors"] == 0, results.get("parsing_errors")
    assert summary["passed"] > 250
    # Both modules are scanned, each with a substantial set of passing checks (files are reported as /gke/..., /eks/...).
    passed_per_module = {module: sum(c["file_path"].startswith(f"/{module}/") for c in results["passed_checks"])
                         for module in ("gke", "eks")}
    assert passed_per_module["gke"] > 80 and passed_per_module["eks"] > 120, passed_per_module
    assert {c["file_path"].split("/")[1] for c in results["passed_checks"]} == {"gke", "eks"}
    skipped = results.get("skipped_checks", [])
    assert {c["file_path"].split("/")[1] for c in skipped} == {"gke", "eks"}, "expected the documented inline skips in both"
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 30, f"{check['check_id']} on {check['resource']} is skipped without a reason"
