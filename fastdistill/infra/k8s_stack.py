"""The remote ZenML stack, registered from Terraform's outputs (`terraform output -json > outputs.json`).

`register_k8s_stack` is idempotent like the local stack's bootstrap: it
creates or updates six components and the stack, then activates it:

- orchestrator `kubernetes` (the cluster's kubeconfig context and namespace),
- artifact store `gcp` (the bucket), container registry `gcp` (Artifact
  Registry), image builder (`gcp` = Cloud Build by default, or `local`),
- MLflow experiment tracker and model registry pointing at the cluster's
  MLflow server.

MLflow's password never enters a component's configuration: it is stored in
the ZenML secret `fastdistill_mlflow` and the tracker holds references
(`{{fastdistill_mlflow.password}}`) that ZenML resolves inside the step pod.
It is read from `MLFLOW_TRACKING_PASSWORD` (MLflow's own variable name), which
the docs fill from Secret Manager, because Terraform's output file would
otherwise carry it in clear text.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fastdistill.infra.local_stack import ensure_component, ensure_secret, ensure_stack

STACK_NAME = "fastdistill_k8s"
SECRET_NAME = "fastdistill_mlflow"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
EXPERIMENT_NAME = "fastdistill"


class StackOutputs(BaseModel):
    """The Terraform outputs the stack needs (infra/terraform/gke/outputs.tf); other outputs are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cloud: Literal["gcp"] = Field(description="Which variant produced the outputs; only GKE exists so far.")
    kubernetes_context: str = Field(min_length=1, description="kubeconfig context of the cluster.")
    kubernetes_namespace: str = Field(min_length=1, description="Namespace the step pods run in.")
    artifact_store_path: str = Field(pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,220}(/.*)?$")
    container_registry_uri: str = Field(pattern=r"^[a-z0-9-]+-docker\.pkg\.dev/[^/]+/[^/]+$")
    mlflow_tracking_uri: str = Field(pattern=r"^https?://")
    mlflow_username: str = Field(min_length=1)
    runner_service_account: str = Field(min_length=1, description="Kubernetes service account of the step pods.")
    project_id: str = Field(min_length=1)
    region: str = Field(min_length=1)


class StackOutputsError(ValueError):
    """An outputs file that cannot register a stack; the message names the file and the output."""


def read_outputs(path: Path) -> StackOutputs:
    """Parse `terraform output -json`: {name: {"value": ..., "type": ..., "sensitive": ...}}."""
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise StackOutputsError(f"{path}: no such file; create it with `terraform -chdir=infra/terraform/gke "
                                "output -json > outputs.json`") from None
    except json.JSONDecodeError as err:
        raise StackOutputsError(f"{path}: not JSON ({err}); expected the output of `terraform output -json`") from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) and "value" in v for v in raw.values()):
        raise StackOutputsError(f"{path}: expected `terraform output -json` format, "
                                "{name: {\"value\": ..., \"type\": ...}}")
    values = {name: entry["value"] for name, entry in raw.items()}
    try:
        return StackOutputs.model_validate(values)
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


def component_specs(outputs: StackOutputs, image_builder: str) -> dict:
    """(type, name, flavor, configuration) of every component, from the outputs alone."""
    from zenml.enums import StackComponentType as T

    return {
        T.ORCHESTRATOR: ("fastdistill_k8s_orchestrator", "kubernetes", {
            "kubernetes_context": outputs.kubernetes_context,
            "kubernetes_namespace": outputs.kubernetes_namespace,
            "service_account_name": outputs.runner_service_account,
        }),
        T.ARTIFACT_STORE: ("fastdistill_gcs", "gcp", {"path": outputs.artifact_store_path}),
        T.CONTAINER_REGISTRY: ("fastdistill_gar", "gcp", {"uri": outputs.container_registry_uri}),
        T.IMAGE_BUILDER: ("fastdistill_image_builder", image_builder, {}),  # defaults: the ambient project
        T.EXPERIMENT_TRACKER: ("fastdistill_k8s_mlflow_tracker", "mlflow", {
            "tracking_uri": outputs.mlflow_tracking_uri,
            "tracking_username": f"{{{{{SECRET_NAME}.username}}}}",
            "tracking_password": f"{{{{{SECRET_NAME}.password}}}}",
            "experiment_name": EXPERIMENT_NAME,
        }),
        T.MODEL_REGISTRY: ("fastdistill_k8s_mlflow_registry", "mlflow", {}),
    }


def register_k8s_stack(outputs_path: Path, image_builder: Literal["gcp", "local"] = "gcp",
                       password: str | None = None, activate: bool = True) -> K8sStack:
    """Create or update the remote stack's secret, components and stack from a Terraform outputs file."""
    from zenml.client import Client

    outputs = read_outputs(outputs_path)
    password = password if password is not None else os.environ.get(PASSWORD_ENV)
    if not password:
        raise StackOutputsError(
            f"{PASSWORD_ENV} is not set: export MLflow's password first, e.g. `export {PASSWORD_ENV}=$(gcloud secrets "
            f"versions access latest --secret=fastdistill-mlflow-password --project {outputs.project_id})`")
    client = Client()
    _ensure_secret(client, {"username": outputs.mlflow_username, "password": password})
    specs = component_specs(outputs, image_builder)
    for kind, (name, flavor, configuration) in specs.items():
        ensure_component(client, kind, name, flavor, configuration)
    components = {kind: name for kind, (name, _, _) in specs.items()}
    ensure_stack(client, STACK_NAME, components)
    if activate and client.active_stack_model.name != STACK_NAME:
        client.activate_stack(STACK_NAME)
    warnings = ()
    if client.zen_store.type.value == "sql":
        warnings = ("the ZenML client is connected to a local store; pods in the cluster cannot reach it. "
                    "Connect to a ZenML server first (`zenml login <url>`), then run this again",)
    return K8sStack(STACK_NAME, {k.value: v for k, v in components.items()}, outputs.mlflow_tracking_uri, warnings)


def _ensure_secret(client, values: dict[str, str]) -> None:
    ensure_secret(client, SECRET_NAME, values)
