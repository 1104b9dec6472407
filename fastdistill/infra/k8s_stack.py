"""The remote ZenML stack, registered from Terraform's outputs (`terraform output -json > outputs.json`).

`register_k8s_stack` is idempotent like the local stack's bootstrap: it
creates or updates six components and the stack, then activates it. Which
components depends on the output `cloud`:

| component | `gcp` (infra/terraform/gke) | `aws` (infra/terraform/eks) |
| --- | --- | --- |
| orchestrator | `kubernetes` (context, namespace, service account) | the same |
| artifact store | `gcp` (the GCS bucket) | `s3` (the S3 bucket, in the outputs' region) |
| container registry | `gcp` (Artifact Registry) | `aws` (the ECR registry host) |
| image builder | `gcp` (Cloud Build) or `local` | `local` (default) or `aws` (CodeBuild, a project of yours) |
| tracker, registry | `mlflow` on the cluster's MLflow | the same |

Each cloud has its own stack, component and secret names (`fastdistill_k8s`
for GKE, `fastdistill_eks` for EKS), so a ZenML server that knows both
clusters keeps both stacks: registering one never re-points the other's
shared components.

MLflow's password never enters a component's configuration: it is stored in
a ZenML secret and the tracker holds references (`{{<secret>.password}}`)
that ZenML resolves inside the step pod. It is read from
`MLFLOW_TRACKING_PASSWORD` (MLflow's own variable name), which the docs fill
from Secret Manager / Secrets Manager, because Terraform's output file would
otherwise carry it in clear text.

ZenML registers the `gcp`, `s3` and `aws` flavors without their packages
(a flavor's configuration is plain pydantic), so registration works on any
client; using the stack (running, reading artifacts) needs them. Registration
warns, naming the packages, when they are missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fastdistill.infra.local_stack import ensure_component, ensure_secret, ensure_stack

PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
EXPERIMENT_NAME = "fastdistill"
CLOUDS = ("gcp", "aws")
# Back-compatible names of the GKE stack (the first one built); the EKS stack's are in NAMES["aws"].
STACK_NAME = "fastdistill_k8s"
SECRET_NAME = "fastdistill_mlflow"


class StackOutputs(BaseModel):
    """The Terraform outputs every cloud's stack needs (both modules' outputs.tf); other outputs are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cloud: str = Field(description="Which module produced the outputs: gcp (infra/terraform/gke) or aws (eks).")
    kubernetes_context: str = Field(min_length=1, description="kubeconfig context of the cluster.")
    kubernetes_namespace: str = Field(min_length=1, description="Namespace the step pods run in.")
    artifact_store_path: str
    container_registry_uri: str
    mlflow_tracking_uri: str = Field(pattern=r"^https?://")
    mlflow_username: str = Field(min_length=1)
    runner_service_account: str = Field(min_length=1, description="Kubernetes service account of the step pods.")
    project_id: str = Field(min_length=1, description="GCP project, or AWS account ID (eks/outputs.tf fills it so).")
    region: str = Field(min_length=1)


class GcpOutputs(StackOutputs):
    cloud: Literal["gcp"]
    artifact_store_path: str = Field(pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,220}(/.*)?$")
    container_registry_uri: str = Field(pattern=r"^[a-z0-9-]+-docker\.pkg\.dev/[^/]+/[^/]+$")


class AwsOutputs(StackOutputs):
    cloud: Literal["aws"]
    artifact_store_path: str = Field(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
    # ZenML's `aws` container registry takes the registry host alone (it refuses a '/'): images go to <host>/<repo>.
    container_registry_uri: str = Field(pattern=r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
    project_id: str = Field(pattern=r"^[0-9]{12}$", description="The AWS account ID.")


OUTPUT_MODELS: dict[str, type[StackOutputs]] = {"gcp": GcpOutputs, "aws": AwsOutputs}


@dataclass(frozen=True)
class Names:
    """What one cloud's stack, components and MLflow secret are called in the ZenML store."""

    stack: str
    secret: str
    orchestrator: str
    artifact_store: str
    container_registry: str
    image_builder: str
    tracker: str
    model_registry: str


NAMES = {
    "gcp": Names(STACK_NAME, SECRET_NAME, "fastdistill_k8s_orchestrator", "fastdistill_gcs", "fastdistill_gar",
                 "fastdistill_image_builder", "fastdistill_k8s_mlflow_tracker", "fastdistill_k8s_mlflow_registry"),
    "aws": Names("fastdistill_eks", "fastdistill_eks_mlflow", "fastdistill_eks_orchestrator", "fastdistill_s3",
                 "fastdistill_ecr", "fastdistill_eks_image_builder", "fastdistill_eks_mlflow_tracker",
                 "fastdistill_eks_mlflow_registry"),
}
# Image builders each cloud can use; the first is the default. The EKS module creates no CodeBuild project,
# so on AWS the local Docker daemon is the default and `aws` needs a project of yours (--codebuild-project).
IMAGE_BUILDERS = {"gcp": ("gcp", "local"), "aws": ("local", "aws")}
# Packages the client needs to use (not to register) each cloud's artifact store and registry.
CLIENT_PACKAGES = {"gcp": ("gcsfs",), "aws": ("s3fs", "boto3")}
INSTALL_HINT = {"gcp": "zenml integration install gcp kubernetes", "aws": "zenml integration install aws s3 kubernetes"}
OUTPUTS_HINT = "create it with `terraform -chdir=infra/terraform/<gke|eks> output -json > outputs.json`"
PASSWORD_HINT = {
    "gcp": "$(gcloud secrets versions access latest --secret=fastdistill-mlflow-password --project {project})",
    "aws": "$(aws secretsmanager get-secret-value --query SecretString --output text "
           "--secret-id $(terraform -chdir=infra/terraform/eks output -raw mlflow_password_secret))",
}


class StackOutputsError(ValueError):
    """An outputs file that cannot register a stack; the message names the file and the output."""


def _raw_values(path: Path) -> dict:
    """{name: value} of `terraform output -json` ({name: {"value": ..., "type": ..., "sensitive": ...}})."""
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise StackOutputsError(f"{path}: no such file; {OUTPUTS_HINT}") from None
    except json.JSONDecodeError as err:
        raise StackOutputsError(f"{path}: not JSON ({err}); expected the output of `terraform output -json`") from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) and "value" in v for v in raw.values()):
        raise StackOutputsError(f"{path}: expected `terraform output -json` format, "
                                "{name: {\"value\": ..., \"type\": ...}}")
    return {name: entry["value"] for name, entry in raw.items()}


def read_outputs(path: Path) -> StackOutputs:
    """The outputs as the model of their `cloud` (GcpOutputs or AwsOutputs); every problem names the output."""
    values = _raw_values(path)
    cloud = values.get("cloud")
    if cloud not in OUTPUT_MODELS:
        got = "missing" if "cloud" not in values else f"got {cloud!r}"
        raise StackOutputsError(f"{path}: output 'cloud': expected one of {list(CLOUDS)} ({got}); {OUTPUTS_HINT}")
    try:
        return OUTPUT_MODELS[cloud].model_validate(values)
    except ValidationError as err:
        problems = [f"output '{'.'.join(map(str, e['loc']))}': {e['msg']}" +
                    (f" (got {e['input']!r})" if e["type"] != "missing" else "") for e in err.errors()]
        raise StackOutputsError(f"{path}: " + "; ".join(problems)) from None


@dataclass(frozen=True)
class K8sStack:
    stack_name: str
    components: dict[str, str]  # component type -> name
    tracking_uri: str
    warnings: tuple[str, ...]


def _image_builder(outputs: StackOutputs, image_builder: str | None, codebuild_project: str | None) -> tuple[str, dict]:
    """(flavor, configuration) of the image builder; a builder the cloud cannot use is refused with the choices."""
    choices = IMAGE_BUILDERS[outputs.cloud]
    flavor = image_builder or choices[0]
    if flavor not in choices:
        raise StackOutputsError(f"--image-builder {flavor}: not available with cloud = {outputs.cloud!r} outputs; "
                                f"use one of {list(choices)}")
    if flavor == "aws":
        if not codebuild_project:
            raise StackOutputsError("--image-builder aws needs --codebuild-project NAME (an AWS CodeBuild project "
                                    "that may push to the ECR registry; infra/terraform/eks does not create one)")
        return flavor, {"code_build_project": codebuild_project}
    if codebuild_project:
        raise StackOutputsError(f"--codebuild-project is only used with --image-builder aws (got {flavor})")
    return flavor, {}  # gcp: the ambient project's Cloud Build; local: this machine's Docker


def _artifact_store(outputs: StackOutputs) -> tuple[str, dict]:
    if outputs.cloud == "aws":
        # The bucket is regional; a client whose default region differs would be redirected on every call.
        return "s3", {"path": outputs.artifact_store_path, "client_kwargs": {"region_name": outputs.region}}
    return "gcp", {"path": outputs.artifact_store_path}


def component_specs(outputs: StackOutputs, image_builder: str | None = None,
                    codebuild_project: str | None = None) -> dict:
    """(name, flavor, configuration) of every component by type, from the outputs alone."""
    from zenml.enums import StackComponentType as T

    names = NAMES[outputs.cloud]
    builder_flavor, builder_config = _image_builder(outputs, image_builder, codebuild_project)
    store_flavor, store_config = _artifact_store(outputs)
    return {
        T.ORCHESTRATOR: (names.orchestrator, "kubernetes", {
            "kubernetes_context": outputs.kubernetes_context,
            "kubernetes_namespace": outputs.kubernetes_namespace,
            "service_account_name": outputs.runner_service_account,
        }),
        T.ARTIFACT_STORE: (names.artifact_store, store_flavor, store_config),
        T.CONTAINER_REGISTRY: (names.container_registry, outputs.cloud, {"uri": outputs.container_registry_uri}),
        T.IMAGE_BUILDER: (names.image_builder, builder_flavor, builder_config),
        T.EXPERIMENT_TRACKER: (names.tracker, "mlflow", {
            "tracking_uri": outputs.mlflow_tracking_uri,
            "tracking_username": f"{{{{{names.secret}.username}}}}",
            "tracking_password": f"{{{{{names.secret}.password}}}}",
            "experiment_name": EXPERIMENT_NAME,
        }),
        T.MODEL_REGISTRY: (names.model_registry, "mlflow", {}),
    }


def register_k8s_stack(outputs_path: Path, image_builder: str | None = None, password: str | None = None,
                       activate: bool = True, codebuild_project: str | None = None,
                       orchestrator: tuple[str, str, dict] | None = None, stack_name: str | None = None) -> K8sStack:
    """Create or update the remote stack's secret, components and stack from a Terraform outputs file.

    `orchestrator` (name, flavor, configuration) and `stack_name` replace the Kubernetes orchestrator and the
    stack's name: the Kubeflow stack (fastdistill.infra.kubeflow) shares every other component.
    """
    from zenml.client import Client
    from zenml.enums import StackComponentType

    outputs = read_outputs(outputs_path)
    specs = component_specs(outputs, image_builder, codebuild_project)  # refuses a wrong builder before any write
    if orchestrator is not None:
        specs[StackComponentType.ORCHESTRATOR] = orchestrator
    password = password if password is not None else os.environ.get(PASSWORD_ENV)
    if not password:
        hint = PASSWORD_HINT[outputs.cloud].format(project=outputs.project_id)
        raise StackOutputsError(f"{PASSWORD_ENV} is not set: export MLflow's password first, e.g. "
                                f"`export {PASSWORD_ENV}={hint}`")
    names = NAMES[outputs.cloud]
    client = Client()
    ensure_secret(client, names.secret, {"username": outputs.mlflow_username, "password": password})
    for kind, (name, flavor, configuration) in specs.items():
        ensure_component(client, kind, name, flavor, configuration)
    components = {kind: name for kind, (name, _, _) in specs.items()}
    stack_name = stack_name or names.stack
    ensure_stack(client, stack_name, components)
    if activate and client.active_stack_model.name != stack_name:
        client.activate_stack(stack_name)
    components_by_type = {k.value: v for k, v in components.items()}
    return K8sStack(stack_name, components_by_type, outputs.mlflow_tracking_uri, _warnings(client, outputs.cloud))


def missing_client_packages(cloud: str) -> list[str]:
    """The packages this client lacks to use `cloud`'s artifact store and registry (registering needs none)."""
    return [name for name in CLIENT_PACKAGES[cloud] if importlib.util.find_spec(name) is None]


def _warnings(client, cloud: str) -> tuple[str, ...]:
    warnings = []
    if client.zen_store.type.value == "sql":
        warnings.append("the ZenML client is connected to a local store; pods in the cluster cannot reach it. "
                        "Connect to a ZenML server first (`zenml login <url>`), then run this again")
    missing = missing_client_packages(cloud)
    if missing:
        warnings.append(f"registered, but this client lacks {', '.join(missing)}: running on the stack or reading "
                        f"its artifacts from here fails until you run `{INSTALL_HINT[cloud]}`")
    return tuple(warnings)
