"""Reading Terraform's outputs for `run.py stack k8s`: every refusal names the file and the output.

Registration itself runs against a real ZenML store in
tests/integration/test_k8s_manifests.py; nothing here touches a store.
"""

from __future__ import annotations

import json

import pytest

from fastdistill.infra.k8s_stack import (
    NAMES,
    PASSWORD_ENV,
    AwsOutputs,
    GcpOutputs,
    StackOutputsError,
    component_specs,
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
# What infra/terraform/eks/outputs.tf gives (values made up): the GKE names, cloud = aws, the account as project_id.
GOOD_AWS = {
    "cloud": "aws", "project_id": "123456789012", "account_id": "123456789012", "region": "us-east-1",
    "kubernetes_context": "arn:aws:eks:us-east-1:123456789012:cluster/fastdistill",
    "kubernetes_namespace": "zenml", "runner_service_account": "fastdistill-runner",
    "artifact_store_path": "s3://fastdistill-123456789012-us-east-1-artifacts/zenml",
    "container_registry_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "mlflow_tracking_uri": "http://mlflow.mlflow.svc.cluster.local:5000", "mlflow_username": "fastdistill",
    "rds_endpoint": "fastdistill-mlflow.c0ffee.us-east-1.rds.amazonaws.com:5432",
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
    ({**GOOD, "cloud": "azure"}, True, "output 'cloud': expected one of ['gcp', 'aws'] (got 'azure')"),
    ({k: v for k, v in GOOD.items() if k != "cloud"}, True, "output 'cloud': expected one of ['gcp', 'aws'] (missing)"),
    (GOOD, False, "expected `terraform output -json` format"),
    ({**GOOD_AWS, "artifact_store_path": "gs://bucket/zenml"}, True,
     "output 'artifact_store_path': String should match pattern"),
    # ZenML's aws container registry refuses a '/': the ECR repository URL is not the registry.
    ({**GOOD_AWS, "container_registry_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/fastdistill"}, True,
     "output 'container_registry_uri': String should match pattern"),
    ({**GOOD_AWS, "project_id": "my-project"}, True, "output 'project_id': String should match pattern"),
    ({**GOOD, "cloud": "aws"}, True, "output 'artifact_store_path': String should match pattern"),
], ids=["not-gcs", "missing", "unknown-cloud", "no-cloud", "plain-json", "aws-not-s3", "ecr-with-path",
        "aws-project-not-account", "gke-outputs-said-aws"])
def test_bad_outputs_are_refused_naming_the_file_and_output(tmp_path, values, wrap, expected):
    path = _write(tmp_path, values, wrap)
    with pytest.raises(StackOutputsError) as err:
        read_outputs(path)
    assert str(err.value).startswith(f"{path}: ") and expected in str(err.value)


def test_each_cloud_reads_into_its_own_model(tmp_path):
    assert type(read_outputs(_write(tmp_path, GOOD))) is GcpOutputs
    aws = read_outputs(_write(tmp_path, GOOD_AWS))
    assert type(aws) is AwsOutputs and aws.project_id == "123456789012"
    assert aws.container_registry_uri == "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def test_the_aws_components_are_s3_ecr_and_the_local_builder_under_their_own_names(tmp_path):
    from zenml.enums import StackComponentType as T

    specs = component_specs(read_outputs(_write(tmp_path, GOOD_AWS)))
    assert specs[T.ARTIFACT_STORE] == ("fastdistill_s3", "s3", {
        "path": GOOD_AWS["artifact_store_path"], "client_kwargs": {"region_name": "us-east-1"}})
    assert specs[T.CONTAINER_REGISTRY] == ("fastdistill_ecr", "aws", {"uri": GOOD_AWS["container_registry_uri"]})
    assert specs[T.IMAGE_BUILDER] == ("fastdistill_eks_image_builder", "local", {})  # no CodeBuild project exists
    assert specs[T.EXPERIMENT_TRACKER][2]["tracking_password"] == "{{fastdistill_eks_mlflow.password}}"
    built = component_specs(read_outputs(_write(tmp_path, GOOD_AWS)), "aws", "fastdistill-images")
    assert built[T.IMAGE_BUILDER] == ("fastdistill_eks_image_builder", "aws", {"code_build_project": "fastdistill-images"})
    # No name is shared with the GKE stack: registering one cloud never re-points the other's components.
    gcp_names, aws_names = (set(vars(NAMES[c]).values()) for c in ("gcp", "aws"))
    assert not gcp_names & aws_names


@pytest.mark.parametrize("values, builder, project, expected", [
    (GOOD_AWS, "gcp", None, "--image-builder gcp: not available with cloud = 'aws' outputs; use one of ['local', 'aws']"),
    (GOOD, "aws", "p", "--image-builder aws: not available with cloud = 'gcp' outputs; use one of ['gcp', 'local']"),
    (GOOD_AWS, "aws", None, "--image-builder aws needs --codebuild-project NAME"),
    (GOOD_AWS, "local", "p", "--codebuild-project is only used with --image-builder aws (got local)"),
], ids=["cloud-build-on-aws", "codebuild-on-gcp", "codebuild-without-project", "project-without-codebuild"])
def test_an_image_builder_the_cloud_cannot_use_is_refused_before_anything_is_registered(
        tmp_path, monkeypatch, values, builder, project, expected):
    monkeypatch.setenv(PASSWORD_ENV, "x")
    with pytest.raises(StackOutputsError) as err:
        register_k8s_stack(_write(tmp_path, values), builder, codebuild_project=project)
    assert str(err.value).startswith(expected)


def test_a_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(StackOutputsError, match=r"no such file; create it with `terraform -chdir=infra/terraform/<gke\|eks>"):
        read_outputs(tmp_path / "nope.json")


def test_without_the_mlflow_password_nothing_is_registered(tmp_path, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(StackOutputsError, match=rf"{PASSWORD_ENV} is not set: .*gcloud secrets versions access latest"):
        register_k8s_stack(_write(tmp_path, GOOD))


def test_without_the_mlflow_password_the_aws_hint_reads_secrets_manager(tmp_path, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(StackOutputsError, match=rf"{PASSWORD_ENV} is not set: .*aws secretsmanager get-secret-value"):
        register_k8s_stack(_write(tmp_path, GOOD_AWS))
