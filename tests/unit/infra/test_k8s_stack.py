"""Reading Terraform's outputs for `run.py stack k8s`: every refusal names the file and the output.

Registration itself runs against a real ZenML store in
tests/integration/test_k8s_manifests.py; nothing here touches a store.
"""

from __future__ import annotations

import json

import pytest

from fastdistill.infra.k8s_stack import (
    PASSWORD_ENV,
    StackOutputsError,
    read_outputs,
    register_k8s_stack,
)

GOOD = {
    "cloud": "gcp", "project_id": "p", "region": "europe-west4", "kubernetes_context": "gke_p_europe-west4_fd",
    "kubernetes_namespace": "zenml", "runner_service_account": "fastdistill-runner",
    "artifact_store_path": "gs://p-fastdistill-artifacts/zenml",
    "container_registry_uri": "europe-west4-docker.pkg.dev/p/fastdistill",
    "mlflow_tracking_uri": "http://mlflow.mlflow.svc.cluster.local:5000", "mlflow_username": "fastdistill",
    "some_other_output": ["ignored"],
}


def _write(tmp_path, values, wrap=True):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({k: {"value": v, "type": "string"} for k, v in values.items()} if wrap else values))
    return path


def test_terraform_output_json_is_read_and_extra_outputs_ignored(tmp_path):
    outputs = read_outputs(_write(tmp_path, GOOD))
    assert outputs.artifact_store_path == "gs://p-fastdistill-artifacts/zenml"
    assert outputs.kubernetes_context == "gke_p_europe-west4_fd"


@pytest.mark.parametrize("values, wrap, expected", [
    ({**GOOD, "artifact_store_path": "s3://bucket"}, True, "output 'artifact_store_path': String should match pattern"),
    ({k: v for k, v in GOOD.items() if k != "mlflow_tracking_uri"}, True, "output 'mlflow_tracking_uri': Field required"),
    ({**GOOD, "cloud": "aws"}, True, "output 'cloud': Input should be 'gcp' (got 'aws')"),
    (GOOD, False, "expected `terraform output -json` format"),
], ids=["not-gcs", "missing", "eks-not-built", "plain-json"])
def test_bad_outputs_are_refused_naming_the_file_and_output(tmp_path, values, wrap, expected):
    path = _write(tmp_path, values, wrap)
    with pytest.raises(StackOutputsError) as err:
        read_outputs(path)
    assert str(err.value).startswith(f"{path}: ") and expected in str(err.value)


def test_a_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(StackOutputsError, match=r"no such file; create it with `terraform -chdir=infra/terraform/gke"):
        read_outputs(tmp_path / "nope.json")


def test_without_the_mlflow_password_nothing_is_registered(tmp_path, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(StackOutputsError, match=rf"{PASSWORD_ENV} is not set: .*gcloud secrets versions access latest"):
        register_k8s_stack(_write(tmp_path, GOOD))
