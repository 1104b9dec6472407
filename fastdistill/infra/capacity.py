"""Does each pod fit its node pool, and can it hold the models its step loads? Checked before a run.

Two checks on the run YAML (after `steps:` globs are expanded), both needing
`parameters.cluster` (the pools as Terraform provisions them) where a pool's
size matters:

- `check_pools`: every pod selects a pool the cluster has, asks for no more
  GPUs than a node of it carries, and requests no more memory than a node can
  give a pod. A pod that cannot fit stays Pending forever instead of failing.
- `check_model_memory`: the weights each model-running step loads (teacher,
  student, judge), estimated from the models' parameter counts
  (`fastdistill.models.footprint`) and the dtype the step loads them in
  (`fastdistill.models.precision`: bf16 on a GPU, fp32 on the CPU; training
  keeps fp32 weights, gradients and AdamW's moments, 16 bytes a parameter),
  must fit where they live: the GPUs' memory for a GPU pod, the pod's memory
  limit (else its request) for a CPU pod. The estimate counts weights only
  (activations and the KV cache come on top), so a refused placement cannot
  work, while an accepted one may still be tight.

Which step loads what is `step_models`: the pipelines' steps by invocation id.
A Born-Again generation's teacher is the previous champion, a student of the
teacher's shape; the original teacher's size bounds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from fastdistill.config import PoolConfig, RunConfig, memory_bytes
from fastdistill.infra.k8s import (
    GPU_RESOURCE,
    POOL_LABEL,
    SETTINGS_KEY,
    _raise,
    gpu_limit,
)
from fastdistill.models.footprint import (
    UnknownSize,
    model_config,
    parameter_count,
    with_layers,
)
from fastdistill.models.precision import (
    BYTES_PER_PARAMETER,
    TRAINING_BYTES_PER_PARAMETER,
    inference_dtype_name,
)
from fastdistill.training.sweep import TRAIN_STEP, expand_trials

GIB = 1024**3
# A node never gives all its memory to pods: the kubelet, system daemons and the eviction threshold keep
# part of it (GKE: ~9% of a 48 GB node, ~7% of 128 GB; EKS: ~3% of 128 GiB). 90% is a round bound for both.
ALLOCATABLE_SHARE = 0.9
TEACHER_STEPS = ("teacher_inference", "original_teacher_inference")  # born_again labels with both teachers
ON_POLICY_TEACHER_BYTES = 4  # the on-policy trainer loads the teacher in fp32 (fastdistill.training.trainers)
VLLM_BYTES = 2  # vLLM loads half-precision weights on the GPU


@dataclass(frozen=True)
class ModelLoad:
    """One model a step loads, and what its weights take in the dtype it is loaded in."""

    role: str  # teacher, student, judge
    spec: str
    parameters: int | None  # None: unknown here (see `problem`)
    bytes_per_parameter: int
    how: str  # in words, for the refusal: float32, bfloat16, training: fp32 weights, gradients, AdamW, ...
    label: str  # in brief, for the dry run's table: fp32, bf16, training 16 B/param, vLLM 16-bit
    problem: str = ""

    @property
    def cell(self) -> str:
        return f"{self.role} ({self.label})"

    @property
    def bytes(self) -> int:
        return (self.parameters or 0) * self.bytes_per_parameter

    def describe(self) -> str:
        if self.parameters is None:
            return f"{self.role} {self.spec} (size unknown: {self.problem})"
        return f"{self.role} {self.spec} ({self.parameters / 1e9:.2f}B parameters, {self.how}: {self.bytes / GIB:.1f} GiB)"


@dataclass(frozen=True)
class StepEstimate:
    step: str
    loads: tuple[ModelLoad, ...]
    on_gpu: bool

    @property
    def bytes(self) -> int:
        return sum(load.bytes for load in self.loads)

    @property
    def complete(self) -> bool:
        return all(load.parameters is not None for load in self.loads)

    def short(self) -> str:
        """The dry-run table's cell: total weights, then each model's role and dtype."""
        if not self.loads:
            return "-"
        bound = "" if self.complete else " (at least)"
        return f"{self.bytes / GIB:.1f} GiB{bound}: " + ", ".join(load.cell for load in self.loads)


# ----------------------------------------------------------------------------- pods


def pod_settings(document: dict, step: str | None) -> dict:
    """The pod settings a step's pod gets: its own under `steps:`, else the run's (ZenML replaces, never merges)."""
    run_level = (((document.get("settings") or {}).get(SETTINGS_KEY) or {}).get("pod_settings")) or {}
    if step is None:
        return run_level
    config = (document.get("steps") or {}).get(step) or {}
    own = (((config.get("settings") or {}).get(SETTINGS_KEY) or {}).get("pod_settings"))
    return own if own is not None else run_level


def _memory(pod: dict, kind: str) -> int | None:
    value = (((pod.get("resources") or {}).get(kind)) or {}).get("memory")
    return None if value is None else memory_bytes(value)


def _pods(document: dict) -> Iterator[tuple[str, dict]]:
    """(path, pod settings) of every pod the YAML describes: the orchestrator's, the run's, each step's."""
    orchestrator = (document.get("settings") or {}).get(SETTINGS_KEY) or {}
    path = f"settings.{SETTINGS_KEY}"
    if orchestrator.get("orchestrator_pod_settings"):
        yield f"{path}.orchestrator_pod_settings", orchestrator["orchestrator_pod_settings"]
    if orchestrator.get("pod_settings"):
        yield f"{path}.pod_settings", orchestrator["pod_settings"]
    for step, config in (document.get("steps") or {}).items():
        pod = (((config or {}).get("settings") or {}).get(SETTINGS_KEY) or {}).get("pod_settings")
        if pod:
            yield f"steps.{step}.settings.{SETTINGS_KEY}.pod_settings", pod


def _pool(pod: dict) -> str | None:
    return (pod.get("node_selectors") or {}).get(POOL_LABEL)


# ----------------------------------------------------------------------------- pools


def _pool_problems(path: str, pod: dict, pools: dict[str, PoolConfig]) -> Iterator[str]:
    name = _pool(pod)
    if name is None:
        return
    if name not in pools:
        yield f"{path}.node_selectors.{POOL_LABEL}: '{name}' is not a pool of parameters.cluster.pools {sorted(pools)}"
        return
    pool, gpus, request = pools[name], gpu_limit(pod), _memory(pod, "requests")
    if gpus > pool.gpus:
        yield (f"{path}.resources: {GPU_RESOURCE} = {gpus}, but a {name} node ({pool.instance_type}) has "
               f"{pool.gpus}: the pod would stay Pending")
    allocatable = int(memory_bytes(pool.memory) * ALLOCATABLE_SHARE)
    if request is not None and request > allocatable:
        yield (f"{path}.resources.requests.memory: {request / GIB:.0f} GiB, but a {name} node ({pool.instance_type}, "
               f"{pool.memory}) gives pods about {allocatable / GIB:.0f} GiB: the pod would stay Pending; "
               f"lower the request or use a larger instance type")


def check_pools(document: dict, params: RunConfig, source: str = "config") -> None:
    """Each pod selects a pool of `parameters.cluster`, and a node of that pool can hold its requests."""
    if params.cluster is None:
        return
    problems = [p for path, pod in _pods(document) for p in _pool_problems(path, pod, params.cluster.pools)]
    _raise(problems, source)


# ----------------------------------------------------------------------------- models


def _is_training(step: str) -> bool:
    return step == TRAIN_STEP or step.startswith(f"{TRAIN_STEP}_")


@dataclass(frozen=True)
class ModelNeed:
    """A model a step loads: `layers` set for a student built from that many of the teacher's layers."""

    role: str
    spec: str
    use: str  # inference, vllm, training, on_policy_teacher
    layers: int | None = None

    @property
    def name(self) -> str:
        return self.spec if self.layers is None else f"{self.layers} layers of {self.spec}"


def _student(student, teacher_spec: str, use: str) -> ModelNeed:
    if student.model is not None:
        return ModelNeed("student", student.model, use)
    return ModelNeed("student", teacher_spec, use, student.num_layers)


def step_models(step: str, params: RunConfig) -> list[ModelNeed]:
    """Each model `step` loads (nothing for steps that load none, or whose teacher is served: backend openai)."""
    teacher = params.teacher
    if step in TEACHER_STEPS or (step == "synthesize" and params.synthesis.enabled):
        if teacher.backend == "openai":
            return []
        return [ModelNeed("teacher", teacher.model, "vllm" if teacher.backend == "vllm" else "inference")]
    if _is_training(step):
        trials = {t.step_id: t for t in expand_trials(params.sweep, params.training, params.student)}
        trial = trials.get(step) or next(iter(trials.values()))
        needs = [_student(trial.student, teacher.model, "training")]
        if trial.training.objective_record.trainer == "on_policy":
            needs.append(ModelNeed("teacher", teacher.model, "on_policy_teacher"))
        return needs
    if step == "evaluate":  # the hf backend, whatever teacher.backend is (steps/evaluation.py)
        needs = [_student(params.student, teacher.model, "inference"), ModelNeed("teacher", teacher.model, "inference")]
        judge = params.evaluation.local_judge_model  # a served judge needs no memory here
        return needs + ([ModelNeed("judge", judge, "inference")] if judge not in (None, teacher.model) else [])
    return []


def _bytes_per_parameter(use: str, on_gpu: bool) -> tuple[int, str, str]:
    """(bytes per parameter, the dtype in words, in brief) of a model used this way on this device."""
    if use == "training":
        return TRAINING_BYTES_PER_PARAMETER, "training: fp32 weights, gradients, AdamW", "training 16 B/param"
    if use == "on_policy_teacher":
        return ON_POLICY_TEACHER_BYTES, "float32", "fp32"
    if use == "vllm":
        return VLLM_BYTES, "vllm half precision", "vLLM 16-bit"
    dtype = inference_dtype_name(on_gpu)
    return BYTES_PER_PARAMETER[dtype], dtype, {"bfloat16": "bf16", "float32": "fp32"}[dtype]


@lru_cache(maxsize=32)
def _parameters(spec: str, layers: int | None) -> int:
    """Cached: evaluate, synthesize and teacher_inference all size the same teacher."""
    config = model_config(spec)
    return parameter_count(config if layers is None else with_layers(config, layers))


def estimate(step: str, params: RunConfig, on_gpu: bool) -> StepEstimate:
    loads = []
    for need in step_models(step, params):
        per_parameter, how, label = _bytes_per_parameter(need.use, on_gpu)
        try:
            parameters, problem = _parameters(need.spec, need.layers), ""
        except UnknownSize as err:
            parameters, problem = None, str(err)
        loads.append(ModelLoad(need.role, need.name, parameters, per_parameter, how, label, problem))
    return StepEstimate(step, tuple(loads), on_gpu)


def _capacity(pod: dict, params: RunConfig) -> tuple[int | None, str]:
    """Bytes the step's weights can occupy, and how that was found: the GPUs' memory, else the pod's memory."""
    gpus, pool = gpu_limit(pod), _pool(pod)
    if gpus:
        pools = params.cluster.pools if params.cluster else {}
        if pool not in pools or pools[pool].gpu_memory is None:  # check_pools names an unknown or GPU-less pool
            return None, f"{gpus} GPU(s) of unknown memory (describe pool '{pool}' in parameters.cluster.pools)"
        per_gpu = memory_bytes(pools[pool].gpu_memory)
        return gpus * per_gpu, f"{gpus} x {pools[pool].gpu_memory} GPU on pool {pool} ({gpus * per_gpu / GIB:.1f} GiB)"
    for kind in ("limits", "requests"):
        value = _memory(pod, kind)
        if value is not None:
            return value, f"memory {kind[:-1]} {value / GIB:.1f} GiB"
    return None, "no memory request or limit"


def step_estimates(document: dict, params: RunConfig, steps: list[str]) -> dict[str, StepEstimate]:
    return {step: estimate(step, params, gpu_limit(pod_settings(document, step)) > 0) for step in steps}


def check_model_memory(document: dict, params: RunConfig, steps: list[str], source: str = "config") -> None:
    """Refuse a step whose models' weights (what is known of them) exceed what its pod can hold: one line each."""
    problems = []
    for step in steps:
        pod = pod_settings(document, step)
        capacity, where = _capacity(pod, params)
        if capacity is None:  # nothing to compare with (no memory stated): models are not even sized
            continue
        found = estimate(step, params, gpu_limit(pod) > 0)
        if found.bytes > capacity:
            problems.append(_too_big(found, where))
    _raise(problems, source)


def _too_big(found: StepEstimate, where: str) -> str:
    models = " + ".join(load.describe() for load in found.loads)
    more = "GPU memory" if found.on_gpu else "memory"
    return (f"steps.{found.step}: loads {models} = {found.bytes / GIB:.1f} GiB of weights, more than its pod holds "
            f"({where}); place it on a pool with more {more} or use smaller models")
