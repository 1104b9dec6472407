"""The local ZenML stack: default orchestrator and artifact store plus MLflow tracking and registry.

`ensure_local_stack` is idempotent: the first run creates the ZenML
repository, the two MLflow components and the stack; later runs find them,
fix a changed tracking URI, and activate the stack. MLflow writes to a SQLite
store under `<project>/.fastdistill/mlflow/` (the registry needs a database
store) unless a tracking URI is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STACK_NAME = "fastdistill_local"
TRACKER_NAME = "fastdistill_mlflow_tracker"
REGISTRY_NAME = "fastdistill_mlflow_registry"


@dataclass(frozen=True)
class LocalStack:
    stack_name: str
    tracker_name: str
    registry_name: str
    tracking_uri: str


def default_tracking_uri(project_root: Path) -> str:
    store = Path(project_root).resolve() / ".fastdistill" / "mlflow"
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def _ensure_component(client, name: str, component_type, configuration: dict) -> None:
    from zenml.exceptions import EntityExistsError

    try:
        existing = client.get_stack_component(component_type, name)
    except KeyError:
        existing = None
    if existing is None:
        try:
            client.create_stack_component(name=name, flavor="mlflow", component_type=component_type,
                                          configuration=configuration)
        except EntityExistsError:  # created concurrently: fine, it is the same component
            pass
    elif any(existing.configuration.get(k) != v for k, v in configuration.items()):
        client.update_stack_component(name, component_type, configuration=configuration)


def ensure_local_stack(project_root: Path, tracking_uri: str | None = None) -> LocalStack:
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.integrations.mlflow import MlflowIntegration

    if not MlflowIntegration.check_installation():
        raise RuntimeError("ZenML's MLflow integration is not usable: its requirements "
                           f"{MlflowIntegration.get_requirements()} are not all installed (run scripts/setup.sh)")
    project_root = Path(project_root).resolve()
    if not (project_root / ".zen").is_dir():
        Client.initialize(root=project_root)
    client = Client()
    uri = tracking_uri or default_tracking_uri(project_root)
    _ensure_component(client, TRACKER_NAME, StackComponentType.EXPERIMENT_TRACKER, {"tracking_uri": uri})
    _ensure_component(client, REGISTRY_NAME, StackComponentType.MODEL_REGISTRY, {})
    try:
        client.get_stack(STACK_NAME)
    except KeyError:
        default = client.get_stack("default")
        client.create_stack(name=STACK_NAME, components={
            StackComponentType.ORCHESTRATOR: default.components[StackComponentType.ORCHESTRATOR][0].name,
            StackComponentType.ARTIFACT_STORE: default.components[StackComponentType.ARTIFACT_STORE][0].name,
            StackComponentType.EXPERIMENT_TRACKER: TRACKER_NAME,
            StackComponentType.MODEL_REGISTRY: REGISTRY_NAME,
        })
    if client.active_stack_model.name != STACK_NAME:
        client.activate_stack(STACK_NAME)
    return LocalStack(STACK_NAME, TRACKER_NAME, REGISTRY_NAME, uri)
