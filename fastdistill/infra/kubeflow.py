"""Kubeflow Pipelines as the second orchestrator: the same step placement, compiled to a KFP pipeline spec.

ZenML 0.98's `kubeflow` orchestrator would run every step on any node with no
GPU: its settings validator replaces a given `pod_settings` with one built
from the legacy `node_selectors`/`node_affinity` fields, and its
`submit_pipeline` applies no pod setting but an `accelerator` node selector
(warning that the rest "will be ignored"). FastDistill therefore registers
its own flavor, `fastdistill_kubeflow`: ZenML's orchestrator, unchanged,
plus each step's pod settings applied to its KFP task with `kfp-kubernetes`
(`kubeflow_orchestrator.PlacedKubeflowOrchestrator`).

The placement stays in one place, the run YAML's `orchestrator.kubernetes`
pod settings (configs/k8s.yaml): `with_kubeflow_placement` moves them under
this flavor's key before ZenML reads the file, for a run on a Kubeflow stack
and for the dry run. What KFP can carry: node selectors, tolerations, CPU,
memory and GPU requests/limits, emptyDir volumes (/dev/shm), plain
environment variables, pod labels and annotations. What it cannot (envFrom,
other volumes, affinity, ...) is named by `not_carried`, never silently lost.

`compile_pipeline_spec` is the dry run: ZenML compiles the pipeline against
an in-memory stack, then the orchestrator's own `submit_pipeline` builds the
KFP pipeline and writes it with `kfp.compiler.Compiler`; only the upload is
left out (and the image names, which come from a build that does not exist,
are the ones ZenML would build, as in the Kubernetes dry run).

This module imports neither kfp nor ZenML's Kubeflow orchestrator (which
imports kfp), so `run_pipeline` can ask whether the active stack is a
Kubeflow one on any client. Registering (ZenML imports a flavor's
orchestrator to store it), compiling and running need the `kubeflow` extra
(kfp, kfp-kubernetes), which caps protobuf below 7 and so lives in
.venv-kfp (scripts/setup.sh, docs/kubernetes.md).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zenml.integrations.kubeflow.flavors.kubeflow_orchestrator_flavor import (
    KubeflowOrchestratorFlavor,
)

from fastdistill.infra import k8s
from fastdistill.infra.kubeflow_settings import FLAVOR, SETTINGS_KEY, not_carried  # noqa: F401  (re-exported)

FLAVOR_SOURCE = "fastdistill.infra.kubeflow.PlacedKubeflowOrchestratorFlavor"
INSTALL_HINT = ("kfp and kfp-kubernetes are not installed here: use .venv-kfp/bin/python (`bash scripts/setup.sh "
                "--with-kfp` creates it beside .venv) or `pip install '.[kubeflow]'` in an environment of its own")


class KubeflowUnavailable(RuntimeError):
    """kfp / kfp-kubernetes are not importable in this environment."""


def require_kfp() -> None:
    if importlib.util.find_spec("kfp") is None or importlib.util.find_spec("kfp.kubernetes") is None:
        raise KubeflowUnavailable(INSTALL_HINT)


class PlacedKubeflowOrchestratorFlavor(KubeflowOrchestratorFlavor):
    """`fastdistill_kubeflow`: ZenML's Kubeflow orchestrator that also applies each step's pod settings."""

    @property
    def name(self) -> str:
        return FLAVOR

    @property
    def implementation_class(self):
        from fastdistill.infra.kubeflow_orchestrator import PlacedKubeflowOrchestrator

        return PlacedKubeflowOrchestrator


# ----------------------------------------------------------------------------- the run YAML


def _with_pod_settings(settings: dict) -> dict:
    if k8s.SETTINGS_KEY not in settings:
        return settings
    settings = dict(settings)
    pod = (settings.pop(k8s.SETTINGS_KEY) or {}).get("pod_settings")  # ZenML would only warn it is unused
    own = settings.get(SETTINGS_KEY) or {}  # e.g. timeout; pod_settings written there by hand win
    if pod is not None and "pod_settings" not in own:
        settings[SETTINGS_KEY] = {**own, "pod_settings": copy.deepcopy(pod)}
    return settings


def with_kubeflow_placement(document: dict) -> dict:
    """The run YAML with every `orchestrator.kubernetes` pod_settings (run-wide and per step) moved under
    `orchestrator.fastdistill_kubeflow`, which is where the Kubeflow orchestrator reads them.

    The Kubernetes orchestrator's other settings have no KFP equivalent and are dropped. Step settings replace
    the run-wide ones as on the Kubernetes orchestrator (ZenML merges both the same way).
    """
    document = dict(document)
    if document.get("settings"):
        document["settings"] = _with_pod_settings(document["settings"])
    steps = {}
    for step, config in (document.get("steps") or {}).items():
        config = dict(config or {})
        if config.get("settings"):
            config["settings"] = _with_pod_settings(config["settings"])
        steps[step] = config
    if steps:
        document["steps"] = steps
    return document


def active_orchestrator_is_kubeflow() -> bool:
    from zenml.client import Client
    from zenml.enums import StackComponentType

    orchestrators = Client().active_stack_model.components.get(StackComponentType.ORCHESTRATOR) or []
    return bool(orchestrators) and orchestrators[0].flavor_name == FLAVOR


def for_active_stack(document: dict) -> dict:
    """The run YAML as the active stack's orchestrator needs it (the placement under the Kubeflow key, or as is).

    Raises `KubeflowUnavailable` on a Kubeflow stack without kfp, before ZenML fails to import the orchestrator.
    """
    if k8s.uses_kubernetes(document) and active_orchestrator_is_kubeflow():
        require_kfp()
        return with_kubeflow_placement(document)
    return document


# ----------------------------------------------------------------------------- registration


def ensure_flavor(client) -> None:
    """Register the `fastdistill_kubeflow` flavor in the ZenML store once (a flavor is code: its source path)."""
    from zenml.enums import StackComponentType

    if not client.zen_store.list_flavors(_flavor_filter(client)).items:
        client.create_flavor(source=FLAVOR_SOURCE, component_type=StackComponentType.ORCHESTRATOR)


def _flavor_filter(client):
    from zenml.enums import StackComponentType
    from zenml.models import FlavorFilter

    return FlavorFilter(name=FLAVOR, type=StackComponentType.ORCHESTRATOR)


# The Kubeflow stack's own names; its other components are the Kubernetes stack's (k8s_stack.NAMES).
STACK_NAMES = {"gcp": "fastdistill_kubeflow", "aws": "fastdistill_eks_kubeflow"}
ORCHESTRATOR_NAMES = {"gcp": "fastdistill_kubeflow_orchestrator", "aws": "fastdistill_eks_kubeflow_orchestrator"}


def register_kubeflow_stack(outputs_path: Path, kfp_host: str | None = None, kube_context: str | None = None,
                            namespace: str = "kubeflow", user_namespace: str | None = None,
                            image_builder: str | None = None, codebuild_project: str | None = None,
                            activate: bool = True, password: str | None = None):
    """The Kubernetes stack of `k8s_stack.register_k8s_stack` with the `fastdistill_kubeflow` orchestrator.

    Without --kfp-host or --kube-context, KFP is reached through the outputs' kube context. Raises
    `KubeflowUnavailable` (ZenML imports a flavor's orchestrator to register it, and that imports kfp),
    `StackOutputsError` (the outputs, or the options) and RuntimeError (a component name taken by another flavor).
    """
    from zenml.client import Client

    from fastdistill.infra.k8s_stack import StackOutputsError, read_outputs, register_k8s_stack

    require_kfp()
    outputs = read_outputs(outputs_path)
    if not kfp_host and not kube_context:
        kube_context = outputs.kubernetes_context
    try:
        configuration = orchestrator_configuration(kfp_host, kube_context, namespace, user_namespace)
    except ValueError as err:
        raise StackOutputsError(str(err)) from None
    ensure_flavor(Client())
    return register_k8s_stack(outputs_path, image_builder, password, activate, codebuild_project,
                              orchestrator=(ORCHESTRATOR_NAMES[outputs.cloud], FLAVOR, configuration),
                              stack_name=STACK_NAMES[outputs.cloud])


def orchestrator_configuration(kfp_host: str | None, kube_context: str | None, namespace: str,
                               user_namespace: str | None) -> dict:
    """The orchestrator's configuration: a KFP host (multi-user Kubeflow) or a kube context (the API proxy)."""
    if bool(kfp_host) == bool(kube_context):
        raise ValueError("give exactly one of --kfp-host URL (a Kubeflow Pipelines endpoint) and --kube-context NAME "
                         f"(reach KFP in namespace {namespace!r} through the cluster's API proxy)"
                         + (f"; got both ({kfp_host}, {kube_context})" if kfp_host else ""))
    if kfp_host and not kfp_host.startswith(("http://", "https://")):
        raise ValueError(f"--kfp-host {kfp_host!r}: expected an http(s):// URL, "
                         "e.g. https://kubeflow.example.com/pipeline")
    configuration: dict[str, Any] = {"kubeflow_namespace": namespace}
    configuration |= {"kubeflow_hostname": kfp_host} if kfp_host else {"kubernetes_context": kube_context}
    return configuration | ({"user_namespace": user_namespace} if user_namespace else {})


# ----------------------------------------------------------------------------- the dry run


@dataclass(frozen=True)
class CompiledSpec:
    path: Path
    steps: list[str]
    not_carried: dict[str, list[str]]  # step -> pod settings the spec could not carry


def compile_pipeline_spec(pipeline, document: dict, sections: dict[str, Any], output: Path,
                          registry_uri: str | None = None) -> CompiledSpec:
    """Write the KFP pipeline spec the `fastdistill_kubeflow` orchestrator would upload for this run; no cluster.

    Raises `KubeflowUnavailable` without kfp, `ValueError` for settings ZenML or kfp refuse.
    """
    require_kfp()
    from zenml.container_registries.base_container_registry import (
        BaseContainerRegistry,
        BaseContainerRegistryConfig,
    )
    from zenml.enums import StackComponentType as T
    from zenml.integrations.kubeflow.flavors.kubeflow_orchestrator_flavor import KubeflowOrchestratorConfig
    from zenml.stack import Stack
    from zenml.utils.env_utils import get_runtime_environment

    from fastdistill.infra.kubeflow_orchestrator import DryRunKubeflowOrchestrator

    document = with_kubeflow_placement(document)
    orchestrator = k8s._in_memory_component(DryRunKubeflowOrchestrator, KubeflowOrchestratorConfig(
        kubernetes_context="dry-run"), FLAVOR, T.ORCHESTRATOR)
    snapshot = k8s.compile_for_kubernetes(pipeline, document, sections, orchestrator)
    registry = k8s._in_memory_component(BaseContainerRegistry, BaseContainerRegistryConfig(
        uri=registry_uri or "container-registry.invalid/fastdistill"), "default", T.CONTAINER_REGISTRY)
    stack = Stack(id=uuid.uuid4(), name="fastdistill-dry-run", orchestrator=orchestrator,
                  artifact_store=_artifact_store(), container_registry=registry)
    environments = {step: get_runtime_environment(config=config.config, stack=stack)
                    for step, config in snapshot.step_configurations.items()}
    with tempfile.TemporaryDirectory(prefix="fastdistill-kfp-") as workdir:
        orchestrator.prepare_dry_run(Path(workdir), registry_uri)
        orchestrator.submit_pipeline(snapshot=_Unstored(snapshot), stack=stack, base_environment={},
                                     step_environments=environments)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.partial")
        shutil.copyfile(orchestrator.written_spec, partial)
        os.replace(partial, output)  # a reader never sees half a spec
    return CompiledSpec(output, list(snapshot.step_configurations), orchestrator.not_carried)


def _artifact_store():
    from zenml.artifact_stores import LocalArtifactStore, LocalArtifactStoreConfig
    from zenml.enums import StackComponentType as T

    return k8s._in_memory_component(LocalArtifactStore, LocalArtifactStoreConfig(path=tempfile.gettempdir()),
                                    "local", T.ARTIFACT_STORE)


class _Unstored:
    """A compiled snapshot as `submit_pipeline` reads it: it has no id until a ZenML server stores it."""

    id = uuid.UUID(int=0)

    def __init__(self, snapshot):
        self._snapshot = snapshot

    def __getattr__(self, name: str):
        return getattr(self._snapshot, name)


# ----------------------------------------------------------------------------- reading a spec back


@dataclass(frozen=True)
class TaskPlacement:
    step: str
    pool: str
    gpus: int
    cpu: str
    memory: str
    tolerations: tuple[str, ...]


def read_spec(path: Path) -> list[TaskPlacement]:
    """Each task of a compiled KFP spec (pipeline spec + Kubernetes platform spec) with where it would run."""
    import yaml

    documents = list(yaml.safe_load_all(Path(path).read_text()))
    spec = documents[0]
    platform = next((d for d in documents[1:] if d and "platforms" in d), {})
    executors = ((platform.get("platforms") or {}).get("kubernetes") or {}).get("deploymentSpec", {}).get(
        "executors", {})
    rows = []
    for task in spec["root"]["dag"]["tasks"].values():
        executor = spec["components"][task["componentRef"]["name"]]["executorLabel"]
        resources = spec["deploymentSpec"]["executors"][executor]["container"].get("resources") or {}
        k8s_config = executors.get(executor) or {}
        accelerator = resources.get("accelerator") or {}
        rows.append(TaskPlacement(
            step=task["taskInfo"]["name"],
            pool=((k8s_config.get("nodeSelector") or {}).get("labels") or {}).get(k8s.POOL_LABEL, "(any node)"),
            gpus=int(accelerator.get("resourceCount") or accelerator.get("count") or 0),
            cpu=str(resources.get("resourceCpuRequest", "-")), memory=str(resources.get("resourceMemoryRequest", "-")),
            tolerations=tuple(f"{t.get('key')}:{t.get('effect')}" for t in k8s_config.get("tolerations") or []),
        ))
    return rows
