"""Typed run configuration: the `parameters:` part of a run's YAML.

Every section is a pydantic model that forbids unknown keys, so a typo stops
the run before any step starts. `load_run_config` turns a YAML file into a
validated `RunConfig` or raises `ConfigError` with one line per problem, each
naming the field path, what was wrong and what would be right.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fastdistill.born_again import BornAgainConfig
from fastdistill.metric_catalog import DIRECTIONS
from fastdistill.models import ModelSpecError, validate_spec
from fastdistill.quality import GateConfig

# Keys of ZenML 0.98's PipelineRunConfiguration; anything else at the top level is a typo.
ZENML_TOP_LEVEL_KEYS = frozenset({
    "run_name", "enable_cache", "enable_artifact_metadata", "enable_artifact_visualization",
    "enable_step_logs", "enable_pipeline_logs", "enable_heartbeat", "schedule", "build", "steps", "settings",
    "environment", "secrets", "tags", "extra", "model", "parameters", "retry", "init_hook_source",
    "init_hook_kwargs", "cleanup_hook_source", "failure_hook_source", "success_hook_source",
    "start_hook_source", "end_hook_source", "pause_hook_source", "resume_hook_source", "substitutions",
    "cache_policy", "execution_mode", "skip_successful_steps", "steps_to_skip", "step_input_overrides",
    "step_default_input_overrides",
})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    seeds_path: str = Field("data/seeds.jsonl", description="JSONL file of seed tasks: id, category, prompt, reference.")
    eval_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="Share of seeds per category held out for evaluation.")
    max_seeds: int | None = Field(None, ge=2, description="Use at most this many seeds (None: all).")
    seed: int = Field(0, description="Random seed of the train/eval split.")
    seeds_sha256: str | None = Field(
        None, description="Filled in by validation from the file's bytes; it keys ZenML's cache and the registry's data tag."
    )

    @model_validator(mode="after")
    def _seeds_file_exists(self) -> DataConfig:
        path = Path(self.seeds_path)
        if not path.is_file():
            raise ValueError(f"seeds_path: file '{path}' does not exist (relative paths are read from {Path.cwd()})")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if self.seeds_sha256 not in (None, digest):
            raise ValueError(f"seeds_sha256: '{self.seeds_sha256}' does not match the file's sha256 {digest}")
        object.__setattr__(self, "seeds_sha256", digest)
        from fastdistill.data import read_seeds  # data imports this module: a top-level import would be circular

        read_seeds(path)  # bad lines, missing fields, duplicate ids, bad bytes: caught before any step or model
        return self


EVOL_OPERATORS = ("add_constraints", "deepen", "concretize", "increase_reasoning", "breadth")


class SynthesisConfig(_Section):
    enabled: bool = Field(True, description="Generate new data with the teacher; false: the seeds are the candidates.")
    num_requests: int = Field(8, ge=0, description="Self-Instruct few-shot prompts sent to the teacher, over all rounds.")
    rounds: int = Field(2, ge=1, description="Self-Instruct rounds; later rounds also show instructions generated earlier.")
    examples_per_request: int = Field(4, ge=1, le=12, description="Tasks shown in each few-shot prompt.")
    machine_examples_per_request: int = Field(
        1, ge=0, description="Of those, at most this many are earlier generations (the paper: 2 of 8).")
    max_new_tokens: int = Field(160, ge=16, description="Token budget of each generated task list.")
    temperature: float = Field(0.8, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    novelty_threshold: float = Field(0.7, gt=0.0, le=1.0, description="Drop an instruction whose ROUGE-L to the pool is at least this.")
    evol_prompts: int = Field(8, ge=0, description="Evol-Instruct: train prompts evolved (one operator each, in turn).")
    evol_operators: list[Literal[EVOL_OPERATORS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(EVOL_OPERATORS), min_length=1,
        description="In-depth: add_constraints, deepen, concretize, increase_reasoning; in-breadth: breadth.")
    evol_max_new_tokens: int = Field(96, ge=8)
    rationale_categories: list[str] = Field(
        default_factory=list, description="Train rows of these categories get a teacher rationale + answer (Step-by-Step).")
    rationale_samples: int = Field(1, ge=1, le=16, description="Samples per prompt; above 1 the majority answer wins (self-consistency).")
    rationale_temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature when rationale_samples > 1.")
    rationale_max_new_tokens: int = Field(128, ge=8)
    min_agreement: float = Field(0.0, ge=0.0, le=1.0, description="Reject a rationale row whose majority share is below this.")
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> SynthesisConfig:
        if self.machine_examples_per_request >= self.examples_per_request:
            raise ValueError(f"machine_examples_per_request ({self.machine_examples_per_request}) must be below "
                             f"examples_per_request ({self.examples_per_request}): every request shows at least one seed")
        if self.rounds > max(self.num_requests, 1):
            raise ValueError(f"rounds ({self.rounds}) cannot exceed num_requests ({self.num_requests})")
        return self


def _check_spec(value: str) -> str:
    try:
        validate_spec(value)
    except ModelSpecError as err:
        raise ValueError(str(err)) from None
    return value


class TeacherConfig(_Section):
    model: str = Field("packaged:smollm2-135m-instruct", description="Teacher spec: packaged:NAME, tiny:NAME, a local directory or a hub id.")
    backend: Literal["hf", "vllm", "openai"] = Field(
        "hf", description="hf: transformers (CPU or GPU); vllm: offline vLLM on GPUs; openai: an OpenAI-compatible server."
    )
    base_url: str | None = Field(None, description="openai backend: the server's base URL, e.g. http://vllm:8000/v1.")
    api_model: str | None = Field(None, description="openai backend: the model name on the server (default: teacher.model).")
    concurrency: int = Field(4, ge=1, description="openai backend: requests in flight at once.")
    tensor_parallel_size: int = Field(1, ge=1, description="vllm backend: GPUs per model.")
    top_k: int = Field(8, ge=1, le=256, description="Top-k logprobs kept per response token.")
    max_new_tokens: int = Field(96, ge=1)
    batch_size: int = Field(16, ge=1, description="Prompts per generate call; batching is what makes CPU inference bearable.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 means greedy decoding.")
    shard_rows: int = Field(32, ge=1, description="Prompts per shard: a restarted run redoes at most one shard.")
    rationales: bool = Field(False, description="Ask for 'Rationale: ... Answer: ...' and store both parts (step-by-step data).")

    @field_validator("model")
    @classmethod
    def _known_spec(cls, value: str) -> str:
        return _check_spec(value)

    @model_validator(mode="after")
    def _server_for_openai(self) -> TeacherConfig:
        if self.backend == "openai" and not self.base_url:
            raise ValueError("backend 'openai' needs teacher.base_url, e.g. http://localhost:8000/v1")
        return self


class StudentConfig(_Section):
    model: str | None = Field(None, description="A given student spec (same forms as the teacher's).")
    num_layers: int | None = Field(None, ge=1, description="Build the student from the teacher, keeping this many of its layers.")
    layer_selection: Literal["drop_block", "evenly_spaced"] = Field(
        "drop_block", description="Which teacher layers a built student keeps (see fastdistill.models.select_layers)."
    )

    @field_validator("model")
    @classmethod
    def _known_spec(cls, value: str | None) -> str | None:
        return value if value is None else _check_spec(value)

    @model_validator(mode="after")
    def _exactly_one_source(self) -> StudentConfig:
        if (self.model is None) == (self.num_layers is None):
            raise ValueError("set exactly one of student.model (a model spec) or student.num_layers (layer selection from the teacher)")
        return self


OFFLINE_OBJECTIVES = ("sft", "fkl", "rkl", "jsd", "skl", "srkl", "step_by_step")
"""Objectives that train from the persisted teacher outputs only: the teacher never runs again."""
OBJECTIVES = (*OFFLINE_OBJECTIVES, "gkd")


class TrainingConfig(_Section):
    objective: Literal[OBJECTIVES] = Field(  # type: ignore[valid-type]
        "fkl",
        description="sft: cross-entropy on the teacher's text (sequence-level KD); fkl/rkl/jsd/skl/srkl: forward KL, "
        "reverse KL, generalized JSD, skew KL, skew reverse KL on the top-k store; gkd: on-policy generalized JSD "
        "with the teacher scoring student samples online; step_by_step: multi-task on rationale and answer.",
    )
    beta: float = Field(0.5, ge=0.0, le=1.0, description="jsd/gkd: weight of the teacher in the mixture (0 -> forward KL, 1 -> reverse KL).")
    alpha: float = Field(0.1, ge=0.0, le=1.0, description="skl/srkl: DistiLLM's skew.")
    lmbda: float = Field(0.5, ge=0.0, le=1.0, description="gkd: fraction of batches trained on the student's own samples.")
    on_policy_max_new_tokens: int = Field(32, ge=1, description="gkd: length of the student's samples.")
    rationale_weight: float = Field(1.0, ge=0.0, description="step_by_step: loss = CE(answer) + rationale_weight * CE(rationale).")
    ce_weight: float = Field(0.5, ge=0.0, le=1.0, description="loss = ce_weight * CE + (1 - ce_weight) * KD (sft: CE only).")
    temperature: float = Field(1.0, gt=0.0, description="Softening temperature T of the KD term (gradients scaled by T^2).")
    learning_rate: float = Field(3e-4, gt=0.0)
    epochs: float = Field(3.0, gt=0.0)
    batch_size: int = Field(8, ge=1)
    max_length: int = Field(384, ge=16, description="Prompt + response tokens per example; longer responses are cut.")
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    save_steps: int = Field(0, ge=0, description="Checkpoint every N optimizer steps to the artifact store (0: no checkpoints); "
                            "a restarted trial resumes from its last checkpoint.")
    num_processes: int = Field(1, ge=1, description="GPUs for one trial: above 1 the step is launched with accelerate (GPU pools only).")
    activation_checkpointing: bool | None = Field(
        None, description="Recompute activations in the backward pass to save memory (TRL's default is on). "
        "Unset: on with a GPU, off on CPU, where memory is rarely what runs short.")
    seed: int = 0

    @property
    def is_offline(self) -> bool:
        return self.objective in OFFLINE_OBJECTIVES


SWEEP_KEYS = ("objective", "learning_rate", "temperature", "beta", "alpha", "lmbda", "ce_weight", "epochs", "num_layers")
"""What a sweep may vary: TrainingConfig fields, plus `num_layers` (the student's size, StudentConfig.num_layers)."""
SWEEP_METRICS = {  # trial metric -> greater is better
    "rougeL_vs_teacher": True, "rougeL_vs_reference": True, "top1_agreement": True,
    "teacher_forced_kl": False, "eval_ce": False,
}


class SweepConfig(_Section):
    """A grid (or random samples of it) over objectives and hyper-parameters; empty grid: one trial, `training` as is."""

    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description=f"Values per key, each list non-empty; keys among {list(SWEEP_KEYS)}. Unset keys keep `training`'s value.",
    )
    mode: Literal["grid", "random"] = Field("grid", description="grid: every combination; random: `samples` of them.")
    samples: int = Field(4, ge=1, description="random mode: how many distinct combinations to draw.")
    seed: int = Field(0, description="random mode: seed of the draw.")
    metric: Literal[tuple(SWEEP_METRICS)] = Field(  # type: ignore[valid-type]
        "rougeL_vs_teacher", description="Held-out metric that picks the trial going on to evaluation and registration."
    )
    eval_examples: int = Field(16, ge=1, description="Held-out prompts each trial is scored on.")
    eval_max_new_tokens: int = Field(48, ge=1, description="Token budget of each trial's scoring generations.")

    @field_validator("grid")
    @classmethod
    def _known_keys(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if key not in SWEEP_KEYS:
                raise ValueError(f"{key}: not a sweepable key; use one of {list(SWEEP_KEYS)}")
            if not isinstance(values, list) or not values:
                raise ValueError(f"{key}: expected a non-empty list of values, got {values!r}")
        return grid


class EvaluationConfig(_Section):
    """The held-out evaluation. The expensive parts (judge, batch-1 latency, speculative decoding) are sized here."""

    max_new_tokens: int = Field(64, ge=1)
    batch_size: int = Field(8, ge=1)
    max_examples: int | None = Field(None, ge=1, description="Evaluate on at most this many held-out prompts.")
    judge_model: str | None = Field(
        None, description="Judge model spec for the pairwise win rate (same forms as teacher.model); None: the teacher."
    )
    judge_pairs: int = Field(8, ge=0, description="Student/teacher answer pairs judged (each in both orders); 0: no judge.")
    efficiency_prompts: int = Field(
        3, ge=0, description="Prompts generated one at a time for latency p50/p95 and peak memory; 0: skip."
    )
    speculative: bool = Field(True, description="Measure the student as draft model for the teacher (needs efficiency_prompts > 0).")
    ece_bins: int = Field(10, ge=2, le=100, description="Equal-width confidence bins of the expected calibration error.")
    exposure_bucket: int = Field(8, ge=1, description="Response positions per point of the exposure-bias curve.")

    @field_validator("judge_model")
    @classmethod
    def _known_spec(cls, value: str | None) -> str | None:
        return value if value is None else _check_spec(value)


# Any metric the evaluation reports (fastdistill.metric_catalog); a typo is refused with the full list.
MetricName = Literal[tuple(DIRECTIONS)]  # type: ignore[valid-type]


class RegistryConfig(_Section):
    """Registration and the promotion gate that moves the `champion` alias.

    A challenger is refused if it misses a threshold or regresses on a
    must-not-regress metric; otherwise promoted if it beats the champion's
    `metric` by more than `min_delta`, else held (stays `challenger`).
    """

    model_name: str = Field("fastdistill-student", min_length=1)
    metric: MetricName = Field("rougeL_vs_teacher", description="Metric that ranks a challenger against the champion.")
    greater_is_better: bool | None = Field(
        None, description="Direction of `metric`; None: the metric's known direction (e.g. lower KL is better)."
    )
    min_delta: float = Field(0.0, ge=0.0, description="Required margin over the current champion on `metric`.")
    thresholds: dict[MetricName, float] = Field(
        default_factory=dict,
        description="Per-metric bar every challenger must clear: at least the value for higher-is-better "
        "metrics, at most the value for lower-is-better ones.",
    )
    must_not_regress: list[MetricName] = Field(
        default_factory=list, description="Metrics on which the challenger may not be worse than the champion."
    )
    regression_tolerance: float = Field(0.0, ge=0.0, description="How much worse than the champion still counts as no regression.")


class RunConfig(_Section):
    """Everything under `parameters:` in a run YAML: one section per pipeline parameter."""

    data: DataConfig
    synthesis: SynthesisConfig = SynthesisConfig()
    gate: GateConfig = GateConfig()
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig = StudentConfig(num_layers=20)
    training: TrainingConfig = TrainingConfig()
    sweep: SweepConfig = SweepConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    registry: RegistryConfig = RegistryConfig()
    born_again: BornAgainConfig = BornAgainConfig()

    @model_validator(mode="before")
    @classmethod
    def _validate_default_data(cls, values: Any) -> Any:
        # DataConfig's defaults check a file on disk, so they cannot be a class-level default.
        if isinstance(values, dict) and "data" not in values:
            values = {**values, "data": {}}
        return values

    @model_validator(mode="after")
    def _sweep_fits(self) -> RunConfig:
        from fastdistill.sweep import expand_trials  # late: sweep imports this module

        trials = expand_trials(self.sweep, self.training, self.student)  # raises ValueError naming the bad value
        if any(t.training.objective == "step_by_step" for t in trials) and not self.teacher.rationales:
            raise ValueError("training.objective step_by_step needs teacher.rationales: true (rationale and answer to learn from)")
        if any(t.student.num_layers is not None for t in trials) and self.student.model is not None and "num_layers" in self.sweep.grid:
            raise ValueError("sweep.grid.num_layers builds students from the teacher's layers; unset student.model")
        return self


def fingerprint(*sections: BaseModel) -> str:
    """sha256 of the sections' canonical JSON: equal configs give equal fingerprints."""
    payload = [(type(s).__name__, s.model_dump(mode="json")) for s in sections]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ConfigError(ValueError):
    """A run config that cannot run; the message lists every problem, one per line."""


def _describe(error: dict[str, Any]) -> str:
    path = ".".join(str(p) for p in error["loc"]) or "(top level)"
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key (check the spelling; see `python run.py distill --help` for the sections)"
    if kind == "literal_error":
        return f"{path} = {error['input']!r} is not allowed: {msg.removeprefix('Input should be ')}"
    msg = msg.removeprefix("Value error, ")
    return f"{path}: {msg} (got {error['input']!r})" if kind != "value_error" else f"{path}: {msg}"


def validate_parameters(parameters: dict[str, Any], source: str = "config") -> RunConfig:
    try:
        return RunConfig.model_validate(parameters)
    except ValidationError as err:
        lines = [_describe(e) for e in err.errors()]
        raise ConfigError(f"{source}: " + f"\n{' ' * (len(source) + 2)}".join(lines)) from None


def load_run_config(path: Path) -> tuple[dict[str, Any], RunConfig]:
    """Read a run YAML; return the raw document and its validated parameters."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file does not exist")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping with model:, settings:, parameters:, steps: keys")
    unknown = sorted(set(document) - ZENML_TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {unknown}; FastDistill settings go under parameters:")
    return document, validate_parameters(document.get("parameters") or {}, str(path))
