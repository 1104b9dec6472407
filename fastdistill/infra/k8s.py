"""Kubernetes placement of the pipeline's steps: checked before a run, and shown as the pods ZenML would submit.

Three things ZenML's Kubernetes orchestrator does not do for us:

- It ignores misspelled keys: unknown fields of its settings and of
  `pod_settings` are dropped with a log line, and pod-setting values such as
  tolerations are only warned about. A misspelled `node_selector` would let a
  GPU step land on any GPU node. `check_kubernetes_settings` turns each into
  an error.
- `steps:` in a run YAML is keyed by invocation id, and ids it does not know
  are dropped with a warning. Steps invoked with generated ids (the sweep's
  `train_student_<name>`) cannot be listed in advance, so FastDistill accepts
  glob keys (`train_student_*`) and `expand_step_patterns` rewrites them into
  the ids of the compiled pipeline before ZenML reads the file.
- The GPU count of every pod that runs the teacher with vLLM must match
  `teacher.tensor_parallel_size` (vLLM fails at start-up otherwise):
  `check_gpu_sizing`.

`compile_for_kubernetes` compiles the pipeline with ZenML's own compiler
against an in-memory stack holding a Kubernetes orchestrator; `job_manifests`
builds the orchestrator's Job with the orchestrator's own method and every
step's Job with the manifest builders its entrypoint uses, so a dry run shows
the placement without a cluster.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

SETTINGS_KEY = "orchestrator.kubernetes"
GPU_RESOURCE = "nvidia.com/gpu"
POOL_LABEL = "pool"
# What the orchestrator's entrypoint adds to every step pod that requests no memory (kubernetes_orchestrator_entrypoint).
DEFAULT_STEP_MEMORY = "400Mi"

# KubernetesPodSettings field -> the kubernetes client model its value must deserialize into.
POD_SETTING_TYPES = {
    "node_selectors": "dict(str, str)",
    "affinity": "V1Affinity",
    "tolerations": "list[V1Toleration]",
    "resources": "V1ResourceRequirements",
    "annotations": "dict(str, str)",
    "volumes": "list[V1Volume]",
    "volume_mounts": "list[V1VolumeMount]",
    "labels": "dict(str, str)",
    "env": "list[V1EnvVar]",
    "env_from": "list[V1EnvFromSource]",
    "container_security_context": "V1SecurityContext",
}


class PlacementError(ValueError):
    """Kubernetes settings that would be ignored or would not schedule; one problem per line."""


# ----------------------------------------------------------------------------- strict keys


def unknown_model_keys(value: Any, type_name: str, path: str) -> Iterator[str]:
    """Paths under `value` that the kubernetes client model `type_name` has no field for (camelCase JSON keys)."""
    from kubernetes import client as k8s

    if type_name.startswith("list["):
        for i, item in enumerate(value or []):
            yield from unknown_model_keys(item, type_name[5:-1], f"{path}[{i}]")
        return
    if type_name.startswith("dict("):
        inner = type_name[5:-1].split(",", 1)[1].strip()
        for key, item in (value or {}).items():
            yield from unknown_model_keys(item, inner, f"{path}.{key}")
        return
    model = getattr(k8s, type_name, None)
    if model is None or not isinstance(value, dict):
        return
    by_json_key = {json_key: attr for attr, json_key in model.attribute_map.items()}
    for key, item in value.items():
        attr = by_json_key.get(key)
        if attr is None:
            hint = f" (Kubernetes spells it '{model.attribute_map[key]}')" if key in model.attribute_map else ""
            yield f"{path}.{key}: not a field of {type_name}{hint}; fields: {sorted(by_json_key)}"
        else:
            yield from unknown_model_keys(item, model.openapi_types[attr], f"{path}.{key}")


def _pod_settings_problems(pod: Any, path: str) -> Iterator[str]:
    from kubernetes import client as k8s
    from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings

    if not isinstance(pod, dict):
        yield f"{path}: expected a mapping of pod settings, got {type(pod).__name__}"
        return
    for key, value in pod.items():
        if key not in KubernetesPodSettings.model_fields:
            yield f"{path}.{key}: not a pod setting; ZenML would ignore it. Pod settings: {sorted(KubernetesPodSettings.model_fields)}"
        elif key in POD_SETTING_TYPES:
            yield from unknown_model_keys(value, POD_SETTING_TYPES[key], f"{path}.{key}")
        elif key == "additional_pod_spec_args":
            # add_pod_settings sets these with setattr on V1PodSpec: python attribute names, not camelCase.
            for arg in value or {}:
                if arg not in k8s.V1PodSpec.attribute_map:
                    yield f"{path}.{key}.{arg}: not a V1PodSpec attribute (snake_case); ZenML would ignore it"
    resources = pod.get("resources") or {}
    requested, limited = (resources.get("requests") or {}), (resources.get("limits") or {})
    if GPU_RESOURCE in requested and str(requested[GPU_RESOURCE]) != str(limited.get(GPU_RESOURCE)):
        yield (f"{path}.resources: {GPU_RESOURCE} request {requested[GPU_RESOURCE]!r} needs an equal limit "
               f"(Kubernetes rejects extended resources without one); got limit {limited.get(GPU_RESOURCE)!r}")


def _orchestrator_settings_problems(settings: Any, path: str) -> Iterator[str]:
    from zenml.integrations.kubernetes.flavors import KubernetesOrchestratorSettings

    if not isinstance(settings, dict):
        yield f"{path}: expected a mapping, got {type(settings).__name__}"
        return
    for key, value in settings.items():
        if key not in KubernetesOrchestratorSettings.model_fields:
            yield f"{path}.{key}: not a Kubernetes orchestrator setting; ZenML would ignore it"
        elif key in ("pod_settings", "orchestrator_pod_settings") and value is not None:
            yield from _pod_settings_problems(value, f"{path}.{key}")


def _kubernetes_settings(document: dict) -> Iterator[tuple[str, Any]]:
    yield from (("settings", document.get("settings") or {}),)
    for step, config in (document.get("steps") or {}).items():
        yield f"steps.{step}.settings", (config or {}).get("settings") or {}


def check_kubernetes_settings(document: dict, source: str = "config") -> None:
    """Raise PlacementError listing every Kubernetes setting ZenML would silently drop or Kubernetes would reject."""
    problems = []
    for path, settings in _kubernetes_settings(document):
        for key, value in settings.items():
            if key == SETTINGS_KEY:
                problems += _orchestrator_settings_problems(value, f"{path}.{key}")
            elif key.startswith("orchestrator.") and key.split(".", 1)[1].startswith("kub"):
                problems.append(f"{path}.{key}: unknown settings key; the Kubernetes orchestrator's is '{SETTINGS_KEY}'")
    _raise(problems, source)


def uses_kubernetes(document: dict) -> bool:
    return any(SETTINGS_KEY in settings for _, settings in _kubernetes_settings(document))


def _raise(problems: list[str], source: str) -> None:
    if problems:
        indent = "\n" + " " * (len(source) + 2)
        raise PlacementError(f"{source}: " + indent.join(problems))


# ----------------------------------------------------------------------------- step ids


def _is_pattern(key: str) -> bool:
    return any(ch in key for ch in "*?[")


def expand_step_patterns(steps: dict, invocation_ids: Iterable[str], source: str = "config", strict: bool = True) -> dict:
    """`steps:` with glob keys replaced by the invocation ids they match; an exact key naming no step is an error
    (with `strict=False` it is dropped, as ZenML does, for one config shared by several pipelines).

    An exact id wins over any pattern; an id matched by two patterns is an
    error, since which one ZenML would apply would depend on file order.
    """
    ids = list(invocation_ids)
    problems = [f"steps.{key}: no step with this id in the pipeline (its steps: {ids})"
                for key in steps if strict and not _is_pattern(key) and key not in ids]
    expanded = {key: value for key, value in steps.items() if not _is_pattern(key) and key in ids}
    claimed: dict[str, str] = {}
    for pattern in (key for key in steps if _is_pattern(key)):
        for step_id in fnmatch.filter(ids, pattern):
            if step_id in expanded and step_id not in claimed:
                continue
            if step_id in claimed:
                problems.append(f"steps.{pattern}: matches '{step_id}', already matched by '{claimed[step_id]}'; "
                                f"give '{step_id}' its own entry or narrow one pattern")
                continue
            claimed[step_id] = pattern
            expanded[step_id] = steps[pattern]
    _raise(problems, source)
    return expanded


def invocation_ids(pipeline, sections: dict[str, Any]) -> list[str]:
    """The step invocation ids the pipeline has for these parameters (runs the pipeline function, no step)."""
    prepared = pipeline.with_options()
    prepared.prepare(**sections)
    return list(prepared.invocations)


# ----------------------------------------------------------------------------- sizing


def step_pod_settings(document: dict, step: str) -> dict:
    """The step's own `pod_settings` mapping as written in the (expanded) document."""
    config = (document.get("steps") or {}).get(step) or {}
    return (((config.get("settings") or {}).get(SETTINGS_KEY) or {}).get("pod_settings")) or {}


def gpu_limit(pod_settings: dict) -> int:
    return int(((pod_settings.get("resources") or {}).get("limits") or {}).get(GPU_RESOURCE, 0))


def teacher_steps(params) -> list[str]:
    """Steps that load the teacher through `teacher.backend_for`: they need its GPUs when the backend is vLLM."""
    return (["synthesize"] if params.synthesis.enabled else []) + ["teacher_inference"]


def check_gpu_sizing(document: dict, params, source: str = "config") -> None:
    """Each step that runs the teacher with vLLM gets exactly `teacher.tensor_parallel_size` GPUs.

    Fewer and vLLM cannot start (on a CPU node it fails outright); more and
    the extra GPUs sit idle on an expensive node.
    """
    teacher = params.teacher
    if teacher.backend != "vllm":
        return
    problems = []
    for step in teacher_steps(params):
        gpus = gpu_limit(step_pod_settings(document, step))
        if gpus != teacher.tensor_parallel_size:
            problems.append(
                f"steps.{step}.settings.{SETTINGS_KEY}.pod_settings.resources: {GPU_RESOURCE} = {gpus}, but the step "
                f"runs the teacher with vLLM and teacher.tensor_parallel_size = {teacher.tensor_parallel_size}: give it "
                f"that many GPUs on a GPU pool, or serve the teacher and use teacher.backend: openai")
    _raise(problems, source)


# ----------------------------------------------------------------------------- manifests


@dataclass(frozen=True)
class StepPlacement:
    step: str
    pool: str
    gpus: int
    cpu: str
    memory: str
    image: str
    tolerations: tuple[str, ...]


def _in_memory_component(cls, config, flavor: str, component_type):
    import uuid
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return cls(name=f"fastdistill-dry-run-{flavor}", id=uuid.uuid4(), config=config, flavor=flavor,
               type=component_type, user=None, created=now, updated=now)


def dry_run_orchestrator(kubernetes_context: str = "dry-run", namespace: str = "zenml", **config: Any):
    """A Kubernetes orchestrator that exists only in memory: enough to compile and build manifests, never to submit."""
    from zenml.enums import StackComponentType
    from zenml.integrations.kubernetes.flavors import KubernetesOrchestratorConfig
    from zenml.integrations.kubernetes.orchestrators.kubernetes_orchestrator import (
        KubernetesOrchestrator,
    )

    cfg = KubernetesOrchestratorConfig(kubernetes_context=kubernetes_context, kubernetes_namespace=namespace, **config)
    return _in_memory_component(KubernetesOrchestrator, cfg, "kubernetes", StackComponentType.ORCHESTRATOR)


def compile_for_kubernetes(pipeline, document: dict, sections: dict[str, Any], orchestrator):
    """ZenML's compiled snapshot of `pipeline` under the run YAML `document`, on a stack with `orchestrator`.

    The other components are local stand-ins: the compiler only needs them to
    exist (the training step asks for an experiment tracker); settings are
    resolved against the orchestrator's flavor as on the real stack.
    """
    import tempfile
    import uuid

    from zenml.artifact_stores import LocalArtifactStore, LocalArtifactStoreConfig
    from zenml.config.compiler import Compiler
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration
    from zenml.enums import StackComponentType as T
    from zenml.integrations.mlflow.experiment_trackers import MLFlowExperimentTracker
    from zenml.integrations.mlflow.flavors import MLFlowExperimentTrackerConfig
    from zenml.stack import Stack

    store = _in_memory_component(LocalArtifactStore, LocalArtifactStoreConfig(path=tempfile.gettempdir()), "local",
                                 T.ARTIFACT_STORE)
    tracker = _in_memory_component(MLFlowExperimentTracker, MLFlowExperimentTrackerConfig(), "mlflow",
                                   T.EXPERIMENT_TRACKER)
    stack = Stack(id=uuid.uuid4(), name="fastdistill-dry-run", orchestrator=orchestrator, artifact_store=store,
                  experiment_tracker=tracker)
    prepared = pipeline.with_options()
    prepared.prepare(**sections)
    run_config = PipelineRunConfiguration.model_validate({k: v for k, v in document.items() if k != "parameters"})
    return Compiler().compile(pipeline=prepared, stack=stack, run_configuration=run_config)


def image_name(snapshot, step: str, registry_uri: str | None) -> str:
    """The image ZenML builds for `step`: one shared image unless the step's Docker settings differ."""
    pipeline_docker = snapshot.pipeline_configuration.docker_settings
    step_docker = snapshot.step_configurations[step].config.docker_settings
    tag = f"{snapshot.pipeline_configuration.name}-orchestrator"
    if step_docker != pipeline_docker:
        tag = f"{snapshot.pipeline_configuration.name}-{step}-orchestrator"
    repository = step_docker.target_repository or "zenml"
    return f"{registry_uri or '<container registry>'}/{repository}:{tag}"


ORCHESTRATOR_JOB = "(orchestrator)"
# The entrypoint's default for step Jobs when `pod_failure_policy` is not set: container failures count as
# retries, node disruptions (spot) do not. Its onPodConditions lacks `status`, which the kubernetes 25.3
# client's models require (the API server defaults it to "True"); configs/k8s.yaml sets the policy in full.
STEP_POD_FAILURE_POLICY = {"rules": [
    {"action": "Count", "onExitCodes": {"containerName": "main", "operator": "NotIn", "values": [0]}},
    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
]}


def job_manifests(snapshot, orchestrator, registry_uri: str | None = None) -> dict[str, Any]:
    """The orchestrator's Job and each step's Job, as ZenML's Kubernetes orchestrator builds them.

    The orchestrator Job comes from the orchestrator's own `_prepare_job_manifest`;
    step Jobs repeat kubernetes_orchestrator_entrypoint.start_step_job's calls
    of the manifest builders (that code runs inside the orchestrator pod).
    Returned as JSON-ready dicts (what the API server receives). Only run-time
    values the pods get from the ZenML server (snapshot and run ids, run
    labels, the server token) are stand-ins.
    """
    import uuid

    from kubernetes.client import ApiClient
    from zenml.entrypoints.step_entrypoint_configuration import (
        StepEntrypointConfiguration,
    )
    from zenml.integrations.kubernetes import kube_utils
    from zenml.integrations.kubernetes.manifest_utils import (
        build_job_manifest,
        build_pod_manifest,
        pod_template_manifest_from_pod,
    )
    from zenml.integrations.kubernetes.orchestrators.kubernetes_orchestrator_entrypoint_configuration import (
        KubernetesOrchestratorEntrypointConfiguration as OrchestratorEntrypoint,
    )
    from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings

    # A compiled snapshot has no id until the server stores it; a fixed one stands in for the arguments.
    snapshot_id = uuid.UUID(int=0)
    pipeline_name = snapshot.pipeline_configuration.name
    first_image = image_name(snapshot, next(iter(snapshot.step_configurations)), registry_uri)
    run_settings = orchestrator.get_settings(snapshot)
    orchestrator_job = orchestrator._prepare_job_manifest(
        name=kube_utils.sanitize_label(f"{pipeline_name}-orchestrator"),
        command=OrchestratorEntrypoint.get_entrypoint_command(),
        args=OrchestratorEntrypoint.get_entrypoint_arguments(snapshot_id=snapshot_id),
        image=first_image, environment={}, labels={"pipeline": kube_utils.sanitize_label_value(pipeline_name)},
        annotations={}, settings=run_settings,
        pod_settings=run_settings.orchestrator_pod_settings or KubernetesPodSettings(),
        backoff_limit=run_settings.orchestrator_job_backoff_limit,
    )
    manifests = {ORCHESTRATOR_JOB: ApiClient().sanitize_for_serialization(orchestrator_job)}
    for step, step_config in snapshot.step_configurations.items():
        settings = orchestrator.get_settings(step_config)
        pod_settings = kube_utils.apply_default_resource_requests(
            memory=DEFAULT_STEP_MEMORY, pod_settings=settings.pod_settings)
        pod = build_pod_manifest(
            pod_name=None, image_name=image_name(snapshot, step, registry_uri),
            command=StepEntrypointConfiguration.get_entrypoint_command(),
            args=StepEntrypointConfiguration.get_entrypoint_arguments(step_name=step, snapshot_id=snapshot_id),
            privileged=settings.privileged, pod_settings=pod_settings,
            service_account_name=settings.step_pod_service_account_name or settings.service_account_name,
            labels={"step_name": kube_utils.sanitize_label_value(step)},
            termination_grace_period_seconds=settings.pod_stop_grace_period,
        )
        retries = step_config.config.retry.max_retries if step_config.config.retry else 0
        job = build_job_manifest(
            job_name=kube_utils.sanitize_label(f"{step}-{pipeline_name}"),
            pod_template=pod_template_manifest_from_pod(pod),
            backoff_limit=retries + settings.backoff_limit_margin,
            ttl_seconds_after_finished=settings.ttl_seconds_after_finished,
            active_deadline_seconds=settings.active_deadline_seconds,
            pod_failure_policy=settings.pod_failure_policy or STEP_POD_FAILURE_POLICY,
            labels={"step_name": step},
        )
        manifests[step] = ApiClient().sanitize_for_serialization(job)
    return manifests


def cron_job_manifest(snapshot, orchestrator, orchestrator_job: dict, cron_expression: str) -> dict:
    """The CronJob a scheduled run becomes: the orchestrator Job as its template (as submit_pipeline builds it)."""
    from kubernetes.client import ApiClient
    from zenml.integrations.kubernetes.manifest_utils import (
        build_cron_job_manifest,
        job_template_manifest_from_job,
    )

    settings = orchestrator.get_settings(snapshot)
    cron_job = build_cron_job_manifest(
        cron_expression=cron_expression,
        job_template=job_template_manifest_from_job(validate_job(orchestrator_job, ORCHESTRATOR_JOB)),
        successful_jobs_history_limit=settings.successful_jobs_history_limit,
        failed_jobs_history_limit=settings.failed_jobs_history_limit,
        concurrency_policy=settings.concurrency_policy,
        starting_deadline_seconds=settings.starting_deadline_seconds,
    )
    return ApiClient().sanitize_for_serialization(cron_job)


def validate_manifest(manifest: dict, kind: str, name: str) -> Any:
    """Deserialize `manifest` into the kubernetes client's model `kind` (V1Job, V1CronJob), refusing unknown keys."""
    # ZenML patches the client's V1PodFailurePolicyRule on import, whose validation wrongly requires
    # onPodConditions in every rule (kubernetes-client/python#2056); the orchestrator runs with the patch.
    import zenml.integrations.kubernetes.kube_utils  # noqa: F401
    from kubernetes.client import ApiClient

    problems = list(unknown_model_keys(manifest, kind, name))
    if problems:
        raise PlacementError("\n".join(problems))
    return ApiClient()._ApiClient__deserialize(manifest, kind)  # the client's own (validating) deserializer


def validate_job(manifest: dict, step: str = "job") -> Any:
    """A Job as the kubernetes client's V1Job model; unknown keys and missing required fields are errors."""
    return validate_manifest(manifest, "V1Job", step)


def placement(manifests: dict[str, dict]) -> list[StepPlacement]:
    rows = []
    for step, job in manifests.items():
        spec = job["spec"]["template"]["spec"]
        requests = (spec["containers"][0].get("resources") or {}).get("requests") or {}
        limits = (spec["containers"][0].get("resources") or {}).get("limits") or {}
        rows.append(StepPlacement(
            step=step, pool=(spec.get("nodeSelector") or {}).get(POOL_LABEL, "(any node)"),
            gpus=int(limits.get(GPU_RESOURCE, 0)), cpu=str(requests.get("cpu", "-")),
            memory=str(requests.get("memory", "-")), image=spec["containers"][0]["image"],
            tolerations=tuple(f"{t.get('key')}:{t.get('effect')}" for t in spec.get("tolerations") or []),
        ))
    return rows

