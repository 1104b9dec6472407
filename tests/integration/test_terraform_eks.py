"""infra/terraform/eks with the real Terraform CLI and the real hashicorp/aws provider, offline.

`terraform fmt -check` (both modules), `terraform validate` and `terraform test` (the
plan-level assertions in infra/terraform/eks/tests/, against a mocked aws provider) run on a
copy of the module in a tmp dir, so `.terraform/` and the lock file never land in the repo. The
provider comes from the local filesystem mirror through a CLI config file (TF_CLI_CONFIG_FILE);
nothing is downloaded. The Kubernetes side (manifests/) cannot be planned without a cluster: it
is rendered here with the placeholder names the module's outputs give and validated with the
`kubernetes` client's models, and MLflow's start script is run against stubbed AWS calls.

Skipped only when the terraform binary or the aws provider mirror is absent.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import string
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml

from tests.support.hcl import blocks, load

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "infra" / "terraform"
EKS = MODULES / "eks"
TERRAFORM = shutil.which("terraform") or "/usr/local/bin/terraform"
MIRROR = Path(os.environ.get("FASTDISTILL_TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
PROVIDER_GLOB = "registry.terraform.io/hashicorp/aws/**/terraform-provider-aws_*"

# What tests/*.tftest.hcl hold: 9 plan runs with 46 assertions, 5 runs that expect a validation to refuse the input.
EXPECTED_RUNS = 14
EXPECTED_ASSERTS = 46
EXPECTED_EXPECT_FAILURE_RUNS = 5

terraform_missing = not Path(TERRAFORM).is_file()
mirror_missing = not any(MIRROR.glob(PROVIDER_GLOB))
needs_terraform_binary = pytest.mark.skipif(
    terraform_missing, reason=f"the terraform binary is not installed (looked for {TERRAFORM})")
needs_provider_mirror = pytest.mark.skipif(
    mirror_missing, reason=f"the hashicorp/aws provider mirror is absent: no {MIRROR}/{PROVIDER_GLOB} "
                           "(set FASTDISTILL_TF_PLUGIN_MIRROR to another mirror)")


def needs_terraform(test):
    """Skip `test` (only) when the terraform binary or the provider mirror is absent."""
    return needs_terraform_binary(needs_provider_mirror(test))


CLI_CONFIG = """\
provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["registry.terraform.io/hashicorp/aws"]
  }}
  direct {{
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }}
}}
"""


def _env(cli_config: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(TF_CLI_CONFIG_FILE=str(cli_config), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", NO_COLOR="1")
    return env


def _terraform(args: list[str], cwd: Path, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([TERRAFORM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def initialized(tmp_path_factory):
    """A copy of the module, `terraform init -backend=false` done against the mirror."""
    base = tmp_path_factory.mktemp("tf-eks")
    cli_config = base / "cli.tfrc"
    cli_config.write_text(CLI_CONFIG.format(mirror=MIRROR))
    module = base / "eks"
    shutil.copytree(EKS, module, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "terraform.tfvars"))
    env = _env(cli_config)
    init = _terraform(["init", "-backend=false", "-input=false", "-no-color"], module, env)
    assert init.returncode == 0, init.stdout + init.stderr
    lock = (module / ".terraform.lock.hcl").read_text()
    assert re.search(r'provider "registry.terraform.io/hashicorp/aws" \{\s*version\s*=\s*"5\.\d+\.\d+"', lock), lock
    return module, env


@needs_terraform_binary  # fmt needs no provider
def test_fmt_check_passes_on_both_modules(tmp_path):
    env = _env(tmp_path / "unused.tfrc")
    for module in ("gke", "eks"):
        proc = _terraform(["fmt", "-check", "-recursive", "-diff", "-no-color", str(MODULES / module)], ROOT, env)
        assert proc.returncode == 0, f"terraform fmt would change infra/terraform/{module}:\n{proc.stdout}{proc.stderr}"


@needs_terraform
def test_validate_finds_no_error_or_warning(initialized):
    module, env = initialized
    proc = _terraform(["validate", "-json", "-no-color"], module, env)
    report = json.loads(proc.stdout)
    assert report["valid"] is True and report["error_count"] == 0, report["diagnostics"]
    assert report["warning_count"] == 0, report["diagnostics"]
    assert proc.returncode == 0
    assert not (EKS / ".terraform").exists() and not (EKS / ".terraform.lock.hcl").exists()


def _declared_runs() -> dict[str, dict]:
    runs = {}
    for path in sorted((EKS / "tests").glob("*.tftest.hcl")):
        for entry in load(path).get("run", []):
            for name, body in entry.items():
                runs[name] = body
    return runs


@needs_terraform
def test_terraform_test_passes_every_plan_assertion(initialized):
    module, env = initialized
    runs = _declared_runs()
    assert len(runs) == EXPECTED_RUNS
    assert all(body.get("command") == "plan" for body in runs.values()), "every run must be plan-only"
    assert sum(len(body.get("assert", [])) for body in runs.values()) == EXPECTED_ASSERTS
    assert sum(bool(body.get("expect_failures")) for body in runs.values()) == EXPECTED_EXPECT_FAILURE_RUNS
    assert all(body.get("assert") or body.get("expect_failures") for body in runs.values()), "a run that checks nothing"

    proc = _terraform(["test", "-no-color"], module, env, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    summary = re.search(r"Success! (\d+) passed, (\d+) failed\.", output)
    assert summary, output
    assert (int(summary[1]), int(summary[2])) == (EXPECTED_RUNS, 0), output
    passed = set(re.findall(r'run "([^"]+)"\.\.\. pass', output))
    assert passed == set(runs), output
    assert "skip" not in re.findall(r'run "[^"]+"\.\.\. (\w+)', output)


# --- HCL invariants (no Terraform binary needed) ------------------------------------------------------

def _eks_blocks(kind: str) -> dict:
    return blocks(EKS, kind)


def test_outputs_have_the_gke_shape_and_no_secret():
    gke = set(blocks(MODULES / "gke", "output"))
    eks = _eks_blocks("output")
    assert gke <= set(eks), f"outputs missing from eks: {sorted(gke - set(eks))}"
    assert not any(o.get("sensitive") for o in eks.values())


def test_every_ingress_rule_is_one_the_plan_assertions_cover():
    # nothing_is_open_to_the_internet asserts on these; a new ingress resource or inline rule must be added there.
    resources = _eks_blocks("resource")
    ingress = {key for key in resources if key[0] in ("aws_vpc_security_group_ingress_rule", "aws_security_group_rule")}
    assert ingress == {("aws_vpc_security_group_ingress_rule", "db")}
    groups = {key: conf for key, conf in resources.items() if key[0] in ("aws_security_group", "aws_default_security_group")}
    assert set(groups) == {("aws_security_group", "db"), ("aws_default_security_group", "main")}
    assert all(conf["ingress"] == [] and conf["egress"] == [] for conf in groups.values())


def test_configs_k8s_eks_yaml_describes_the_node_groups_the_module_creates():
    # The checks before a run size pods and models against parameters.cluster.pools: it must be this module's.
    variables = _eks_blocks("variable")
    groups = variables["gpu_node_groups"]["default"]
    document = yaml.safe_load((ROOT / "configs" / "k8s_eks.yaml").read_text())
    pools = document["parameters"]["cluster"]["pools"]
    assert set(pools) == {"system"} | set(groups)
    assert pools["system"]["instance_type"] == variables["system_instance_type"]["default"]
    for name, group in groups.items():
        assert [pools[name]["instance_type"]] == group["instance_types"], name
        assert pools[name]["gpus"] == group["gpus_per_node"], name


def test_gpu_node_groups_match_the_pools_and_gpu_requests_of_configs_k8s_eks_yaml():
    groups = _eks_blocks("variable")["gpu_node_groups"]["default"]
    document = yaml.safe_load((ROOT / "configs" / "k8s_eks.yaml").read_text())
    steps = {step: c["settings"]["orchestrator.kubernetes"]["pod_settings"] for step, c in document["steps"].items()}
    gpu_pools = {pod["node_selectors"]["pool"] for pod in steps.values() if "nvidia.com/gpu" in pod["resources"]["limits"]}
    assert gpu_pools == set(groups)
    for step, pod in steps.items():
        gpus = int(pod["resources"]["limits"].get("nvidia.com/gpu", 0))
        pool = pod["node_selectors"]["pool"]
        if gpus:
            assert gpus <= groups[pool]["gpus_per_node"], f"{step} asks for {gpus} GPUs, {pool} nodes have {groups[pool]['gpus_per_node']}"
            toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            assert toleration in pod["tolerations"], f"{step} would not tolerate the GPU taint"


# --- the Kubernetes manifests -------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
FAKE = {
    "REGION": "us-east-1", "CLUSTER_NAME": "fastdistill", "KUBERNETES_VERSION": "1.33",
    "KUBERNETES_NAMESPACE": "zenml", "RUNNER_SERVICE_ACCOUNT": "fastdistill-runner",
    "RUNNER_ROLE_ARN": "arn:aws:iam::123456789012:role/fastdistill-runner",
    "MLFLOW_ROLE_ARN": "arn:aws:iam::123456789012:role/fastdistill-mlflow",
    "CLUSTER_AUTOSCALER_ROLE_ARN": "arn:aws:iam::123456789012:role/fastdistill-cluster-autoscaler",
    "MLFLOW_IMAGE": "123456789012.dkr.ecr.us-east-1.amazonaws.com/fastdistill/mlflow:3.17.2",
    "MLFLOW_USERNAME": "fastdistill", "MLFLOW_PASSWORD_SECRET": "fastdistill-mlflow-password",
    "RDS_ENDPOINT": "fastdistill-mlflow.c0ffee.us-east-1.rds.amazonaws.com:5432",
    "RDS_MASTER_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0a1b-AbCdEf",
    "ARTIFACT_BUCKET": "fastdistill-123456789012-us-east-1-artifacts",
}
MODELS = {
    "Namespace": "V1Namespace", "ServiceAccount": "V1ServiceAccount", "ConfigMap": "V1ConfigMap",
    "Service": "V1Service", "Role": "V1Role", "RoleBinding": "V1RoleBinding", "ClusterRole": "V1ClusterRole",
    "ClusterRoleBinding": "V1ClusterRoleBinding", "Deployment": "V1Deployment", "DaemonSet": "V1DaemonSet",
    "NetworkPolicy": "V1NetworkPolicy",
}


def _rendered() -> dict[str, list[dict]]:
    return {path.name: [d for d in yaml.safe_load_all(string.Template(path.read_text()).substitute(FAKE)) if d]
            for path in sorted((EKS / "manifests").glob("*.yaml"))}


def _unknown_keys(data, model: str, where: str):
    """Keys the kubernetes client's model `model` does not have (the client itself ignores them silently)."""
    from kubernetes.client import models

    if model.startswith("list["):
        for i, item in enumerate(data):
            yield from _unknown_keys(item, model[5:-1], f"{where}[{i}]")
        return
    if model.startswith("dict(") or not hasattr(models, model):
        return
    cls = getattr(models, model)
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    for key, value in data.items():
        if key not in by_json:
            yield f"{where}.{key}"
        else:
            yield from _unknown_keys(value, cls.openapi_types[by_json[key]], f"{where}.{key}")


def test_manifest_placeholders_are_exactly_the_values_the_outputs_give():
    used = {name for path in (EKS / "manifests").glob("*.yaml") for name in PLACEHOLDER.findall(path.read_text())}
    outputs = _eks_blocks("output")
    rendered_with = _eks_blocks("locals")["manifest_values"]
    assert used == set(FAKE)
    assert {name.lower() for name in used} == set(rendered_with), "templatefile() must get exactly the placeholders"
    assert {name.lower() for name in used} <= set(outputs), "every placeholder must be an output of the same name"
    text = "".join(p.read_text() for p in (EKS / "manifests").glob("*.yaml"))
    assert "%{" not in text and not re.search(r"\$\{(?![A-Z_]+\})", text), "templatefile() would interpret these"


def test_manifests_are_valid_kubernetes_objects():
    from kubernetes.client import ApiClient

    kinds = []
    for name, documents in _rendered().items():
        for doc in documents:
            model = MODELS[doc["kind"]]
            where = f"{name}:{doc['kind']}/{doc['metadata']['name']}"
            assert list(_unknown_keys(doc, model, where)) == []
            ApiClient()._ApiClient__deserialize(doc, model)  # the client's validating deserializer
            kinds.append((doc["kind"], doc["metadata"]["name"]))
    assert ("DaemonSet", "nvidia-device-plugin") in kinds and ("Deployment", "cluster-autoscaler") in kinds
    assert ("Deployment", "mlflow") in kinds and ("ServiceAccount", "fastdistill-runner") in kinds


def test_manifests_wire_irsa_placement_and_the_gpu_taint():
    docs = {(d["kind"], d["metadata"]["name"]): d for documents in _rendered().values() for d in documents}
    role = "eks.amazonaws.com/role-arn"
    assert docs[("ServiceAccount", "fastdistill-runner")]["metadata"]["annotations"][role] == FAKE["RUNNER_ROLE_ARN"]
    assert docs[("ServiceAccount", "mlflow")]["metadata"]["annotations"][role] == FAKE["MLFLOW_ROLE_ARN"]
    assert docs[("ServiceAccount", "cluster-autoscaler")]["metadata"]["annotations"][role] == FAKE["CLUSTER_AUTOSCALER_ROLE_ARN"]
    # The service accounts are the ones the IRSA trust policies name (iam.tf).
    irsa = _eks_blocks("locals")["service_accounts"]
    assert irsa["mlflow"] == {"namespace": "mlflow", "name": "mlflow"}
    assert irsa["cluster_autoscaler"] == {"namespace": "kube-system", "name": "cluster-autoscaler"}
    assert docs[("ServiceAccount", "cluster-autoscaler")]["metadata"]["namespace"] == "kube-system"

    plugin = docs[("DaemonSet", "nvidia-device-plugin")]["spec"]["template"]["spec"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in plugin["tolerations"]
    for name in ("mlflow", "cluster-autoscaler"):
        spec = docs[("Deployment", name)]["spec"]["template"]["spec"]
        assert spec["nodeSelector"] == {"pool": "system"} and "tolerations" not in spec
        container = spec["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        # Credentials are read at start from Secrets Manager: no password variable, no database URI in the spec.
        assert not any(re.search(r"(?i)passw", e["name"]) or "://" in e.get("value", "") and "@" in e["value"]
                       for e in container.get("env", []))
    autoscaler = docs[("Deployment", "cluster-autoscaler")]["spec"]["template"]["spec"]["containers"][0]
    assert autoscaler["image"].endswith(":v1.33.0")
    assert "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/fastdistill" in autoscaler["command"]


STUB_BOTO3 = '''
import json, os

class ResourceNotFoundException(Exception):
    pass

class _Exceptions:
    ResourceNotFoundException = ResourceNotFoundException

class _Client:
    exceptions = _Exceptions()
    def get_secret_value(self, SecretId):
        values = json.loads(os.environ["STUB_SECRETS"])
        if SecretId not in values:
            raise ResourceNotFoundException(SecretId)
        return {"SecretString": values[SecretId]}

def client(service):
    assert service == "secretsmanager"
    return _Client()
'''

FAKE_MLFLOW = '''#!{python}
import json, os, sys
with open(os.environ["STUB_RECORD"], "w") as f:
    json.dump({{"argv": sys.argv, "backend": os.environ["MLFLOW_BACKEND_STORE_URI"],
               "auth_config": os.environ["MLFLOW_AUTH_CONFIG_PATH"]}}, f)
'''


def _run_start_script(tmp_path: Path, secrets: dict) -> tuple[subprocess.CompletedProcess, Path]:
    config_map = next(d for d in _rendered()["mlflow.yaml"] if d["kind"] == "ConfigMap")
    env_spec = next(d for d in _rendered()["mlflow.yaml"] if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    (tmp_path / "start.py").write_text(config_map["data"]["start.py"])
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "boto3.py").write_text(STUB_BOTO3)
    mlflow = stubs / "mlflow"
    mlflow.write_text(FAKE_MLFLOW.format(python=sys.executable))
    mlflow.chmod(0o755)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {"PATH": f"{stubs}:{os.environ['PATH']}", "PYTHONPATH": str(stubs), "MLFLOW_RUN_DIR": str(run_dir),
           "STUB_SECRETS": json.dumps(secrets), "STUB_RECORD": str(tmp_path / "record.json")}
    env |= {e["name"]: e["value"] for e in env_spec}
    proc = subprocess.run([sys.executable, str(tmp_path / "start.py")], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    return proc, run_dir


def test_mlflow_start_script_survives_special_characters_in_rds_passwords(tmp_path, monkeypatch):
    # RDS-generated passwords contain punctuation; a '%' or '@' must neither break the URI nor configparser.
    db_password = "p%40ss/w:rd@#%?&=x%%"
    admin_password = "adm%in%20pw!"
    proc, run_dir = _run_start_script(tmp_path, {
        FAKE["RDS_MASTER_SECRET_ARN"]: json.dumps({"username": "mlflow", "password": db_password}),
        FAKE["MLFLOW_PASSWORD_SECRET"]: admin_password,
    })
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["argv"][1:4] == ["server", "--host", "0.0.0.0"]
    assert record["argv"][record["argv"].index("--artifacts-destination") + 1] == f"s3://{FAKE['ARTIFACT_BUCKET']}/mlflow"
    assert not any(db_password in arg or "postgresql" in arg for arg in record["argv"]), "credentials on the command line"
    uri = urllib.parse.urlsplit(record["backend"])
    assert (uri.scheme, uri.hostname, uri.port, uri.path) == ("postgresql", FAKE["RDS_ENDPOINT"].split(":")[0], 5432, "/mlflow")
    assert urllib.parse.unquote(uri.password) == db_password and uri.query == "sslmode=require"
    assert (run_dir / "backend-uri").read_text() == record["backend"]
    assert oct((run_dir / "basic_auth.ini").stat().st_mode & 0o777) == "0o600"

    # MLflow's own reader of basic_auth.ini gets the values back unchanged. (Loaded from its file: importing
    # mlflow.server.auth would need Flask-WTF, which the server image has and this environment lacks.)
    import importlib.util

    import mlflow

    spec = importlib.util.spec_from_file_location("mlflow_auth_config", Path(mlflow.__file__).parent / "server" / "auth" / "config.py")
    auth_config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(auth_config)
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", record["auth_config"])
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    auth = auth_config.read_auth_config()
    assert (auth.admin_username, auth.admin_password) == (FAKE["MLFLOW_USERNAME"], admin_password)
    assert auth.database_uri == record["backend"] and auth.default_permission == "READ"
    # Without the %% escaping the same file would not even parse.
    raw = configparser.ConfigParser()
    raw.read_string((run_dir / "basic_auth.ini").read_text().replace("%%", "%"))
    with pytest.raises(configparser.InterpolationError):
        raw["mlflow"]["admin_password"]


def test_mlflow_start_script_stops_with_the_fix_when_the_admin_password_is_not_set(tmp_path):
    proc, _ = _run_start_script(tmp_path, {
        FAKE["RDS_MASTER_SECRET_ARN"]: json.dumps({"username": "mlflow", "password": "x"}),
    })
    assert proc.returncode == 1 and not (tmp_path / "record.json").exists()
    assert f"secret {FAKE['MLFLOW_PASSWORD_SECRET']} has no value yet" in proc.stderr
    assert "put-secret-value" in proc.stderr
