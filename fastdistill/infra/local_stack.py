"""The local ZenML stack: default orchestrator and artifact store plus MLflow tracking and registry.

`ensure_local_stack` is idempotent: the first call creates the ZenML
repository (`<project>/.zen`), the two MLflow components and the stack; later
calls find them, fix a changed tracking URI, and activate the stack. MLflow
writes to a SQLite store under `<project>/.fastdistill/mlflow/` unless a
tracking URI is given (the model registry needs a database-backed store).

Why the experiment is pinned: ZenML names the MLflow experiment after the
pipeline and, when a `tracking_uri` is configured, creates it without an
artifact location. MLflow then puts the artifacts of a SQLite-backed store in
`./mlruns` of whatever directory the process runs in. So the tracker is
configured with one experiment name, and that experiment is created here
with its artifact location next to the database; ZenML finds and reuses it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

STACK_NAME = "fastdistill_local"
TRACKER_NAME = "fastdistill_mlflow_tracker"
REGISTRY_NAME = "fastdistill_mlflow_registry"
EXPERIMENT_NAME = "fastdistill"
DEFAULT_COMPONENT = "default"  # ZenML's local orchestrator and local artifact store
TRACKER_LOGGER = "zenml.integrations.mlflow.experiment_trackers.mlflow_experiment_tracker"
LOCAL_SECRET = "fastdistill_mlflow_local"  # a remote tracking server's credentials, referenced by the tracker


@dataclass(frozen=True)
class LocalStack:
    stack_name: str
    tracker_name: str
    registry_name: str
    tracking_uri: str


def default_tracking_uri(project_root: Path, create: bool = True) -> str:
    """`sqlite:///<project>/.fastdistill/mlflow/mlflow.db` (with `create`, the directory is created)."""
    store = Path(project_root).resolve() / ".fastdistill" / "mlflow"
    if create:
        store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def sqlite_artifact_root(tracking_uri: str) -> Path | None:
    """Where artifacts of a SQLite tracking store go: `artifacts/` beside the DB file; None for other stores."""
    prefix = "sqlite:///"  # then the DB path: absolute as `sqlite:////abs/db`, else relative to the cwd
    if not tracking_uri.startswith(prefix):
        return None
    return Path(tracking_uri[len(prefix):].split("?", 1)[0]).resolve().parent / "artifacts"


def ensure_local_stack(project_root: Path, tracking_uri: str | None = None) -> LocalStack:
    """Create (if missing), update (if its tracking URI changed) and activate the `fastdistill_local` stack."""
    from zenml.client import Client
    from zenml.enums import StackComponentType as T

    _check_mlflow_integration()
    _silence_removed_fastai_flavor()
    project_root = Path(project_root).resolve()
    if not Client.is_repository_directory(project_root):
        Client.initialize(root=project_root)
    client = Client()
    client.activate_root(project_root)  # the project's repository, whatever the working directory is
    uri = tracking_uri or default_tracking_uri(project_root)
    _ensure_experiment(uri)
    ensure_component(client, T.EXPERIMENT_TRACKER, TRACKER_NAME, "mlflow", tracker_configuration(client, uri))
    ensure_component(client, T.MODEL_REGISTRY, REGISTRY_NAME, "mlflow", {})
    ensure_stack(client, STACK_NAME, {
        T.ORCHESTRATOR: DEFAULT_COMPONENT,
        T.ARTIFACT_STORE: DEFAULT_COMPONENT,
        T.EXPERIMENT_TRACKER: TRACKER_NAME,
        T.MODEL_REGISTRY: REGISTRY_NAME,
    })
    if client.active_stack_model.name != STACK_NAME:
        client.activate_stack(STACK_NAME)
    return LocalStack(STACK_NAME, TRACKER_NAME, REGISTRY_NAME, uri)


def _check_mlflow_integration() -> None:
    """Fail early, naming the missing packages, if ZenML reports its MLflow integration as not installed.

    ZenML 0.98 registers the `mlflow` flavors even when this check fails, but
    it then skips activating the integration and `zenml integration list`
    shows it as missing; the project pins every requirement, so a failure
    here means a broken environment.
    """
    from packaging.requirements import Requirement
    from zenml.integrations.mlflow import MlflowIntegration
    from zenml.utils.package_utils import requirement_installed

    if MlflowIntegration.check_installation():
        return
    missing = [r for r in MlflowIntegration.get_requirements() if not requirement_installed(Requirement(r))]
    raise RuntimeError(
        f"ZenML's MLflow integration is not usable: requirements {missing or MlflowIntegration.get_requirements()} "
        "are missing or have the wrong version; install the project's pinned dependencies (scripts/setup.sh)"
    )


class _DropFastaiOnlyAutologWarning(logging.Filter):
    """After every tracked step ZenML disables autologging per framework, `fastai` included; MLflow 3
    removed `mlflow.fastai`, so ZenML warns each step. That one warning says nothing about this project."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(
            "Failed to disable MLflow autologging for the following frameworks: ['fastai']")


def _silence_removed_fastai_flavor() -> None:
    logger = logging.getLogger(TRACKER_LOGGER)
    if not any(isinstance(f, _DropFastaiOnlyAutologWarning) for f in logger.filters):
        logger.addFilter(_DropFastaiOnlyAutologWarning())


def _ensure_experiment(tracking_uri: str) -> None:
    """Create (or restore) the pinned experiment with its artifacts beside a SQLite DB.

    Remote and file stores choose their own artifact location, so only
    SQLite stores are touched here.
    """
    artifact_root = sqlite_artifact_root(tracking_uri)
    if artifact_root is None:
        return
    from mlflow.entities import LifecycleStage
    from mlflow.tracking import MlflowClient

    artifact_root.mkdir(parents=True, exist_ok=True)
    mlflow_client = MlflowClient(tracking_uri)
    experiment = mlflow_client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None:
        mlflow_client.create_experiment(EXPERIMENT_NAME, artifact_location=artifact_root.as_uri())
    elif experiment.lifecycle_stage == LifecycleStage.DELETED:
        mlflow_client.restore_experiment(experiment.experiment_id)  # ZenML cannot log into a deleted one


def ensure_component(client, kind, name: str, flavor: str, configuration: dict) -> None:
    """Create the component, or update the keys of `configuration` that differ; a clash of flavors is refused."""
    try:
        existing = client.get_stack_component(kind, name, allow_name_prefix_match=False)
    except KeyError:
        client.create_stack_component(name=name, flavor=flavor, component_type=kind, configuration=configuration)
        return
    if existing.flavor_name != flavor:
        raise RuntimeError(f"ZenML {kind.value} '{name}' exists with flavor '{existing.flavor_name}', expected "
                           f"'{flavor}': delete it (`zenml {kind.value.replace('_', '-')} delete {name}`) and run again")
    if any(existing.configuration.get(key) != value for key, value in configuration.items()):
        client.update_stack_component(name, kind, configuration=configuration)


def ensure_stack(client, stack_name: str, components: dict) -> None:
    """Create the stack, or point an existing one back at exactly these components."""
    try:
        stack = client.get_stack(stack_name, allow_name_prefix_match=False)
    except KeyError:
        client.create_stack(name=stack_name, components=components)
        return
    current = {kind: [c.name for c in found] for kind, found in stack.components.items()}
    changed = {kind: name for kind, name in components.items() if current.get(kind) != [name]}
    if changed:
        client.update_stack(stack_name, component_updates=changed)


def ensure_secret(client, name: str, values: dict[str, str]) -> None:
    """Create the ZenML secret, or update the values that changed."""
    try:
        existing = client.get_secret(name, allow_partial_name_match=False, allow_partial_id_match=False)
    except KeyError:
        client.create_secret(name, values=values)
        return
    if existing.secret_values != values:
        client.update_secret(existing.id, add_or_update_values=values)


def tracker_configuration(client, uri: str) -> dict[str, str]:
    """The MLflow tracker's configuration; a remote server's credentials as references to a ZenML secret.

    ZenML's tracker refuses an http(s) URI without credentials. They come from MLflow's own variables
    (`fastdistill.infra.preflight.remote_credentials`) and never enter the component's configuration.
    """
    from fastdistill.infra.preflight import remote_credentials

    configuration = {"tracking_uri": uri, "experiment_name": EXPERIMENT_NAME}
    if not uri.startswith(("http://", "https://")):
        return configuration
    credentials = remote_credentials()
    if not credentials:
        raise RuntimeError(f"MLflow at {uri} needs credentials: set MLFLOW_TRACKING_USERNAME and "
                           "MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN")
    ensure_secret(client, LOCAL_SECRET, credentials)
    return configuration | {f"tracking_{key}": f"{{{{{LOCAL_SECRET}.{key}}}}}" for key in credentials}
