"""Typed run configuration: every section of the `parameters:` part of a run's YAML, side by side.

Every section is a pydantic model that forbids unknown keys, so a typo stops
the run before any step starts. The models check what they can see alone
(types, ranges, consistent pairs of fields); checks that need a file or
another stage's logic (the seeds file, the sweep's trials) live in
`fastdistill.run_config`, which loads a run YAML and runs them all.

Objectives and metrics are validated against their registries
(`fastdistill.training.objectives`, `fastdistill.evaluation.catalog`).
"""

from __future__ import annotations

import hashlib
import json
import re
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fastdistill.data.formats import FORMAT_COLUMNS, check_source, source_sha256
from fastdistill.evaluation.catalog import CATALOG, TRIAL_METRICS
from fastdistill.models import ModelSpecError, validate_spec
from fastdistill.training import objectives


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info) -> Any:
        # pydantic's lax mode reads `true` as 1 for an int or float field: `batch_size: true` would train one
        # example at a time. Only bools are refused: a quoted "8" is still the number meant.
        if isinstance(value, bool) and _is_number(cls.model_fields[info.field_name].annotation):
            raise ValueError(f"expected a number, got {value!r}")
        return value


def _is_number(annotation: Any) -> bool:
    """Whether a field holds a number: int or float, optionally `| None`."""
    if get_origin(annotation) in (Union, UnionType):
        return all(_is_number(arg) or arg is type(None) for arg in get_args(annotation))
    return annotation in (int, float)


class DataConfig(_Section):
    """The seed tasks and the three disjoint splits (see fastdistill.data.splits)."""

    path: str = Field("data/seeds.jsonl", description="The prompts: a JSONL, JSON, CSV or Parquet file, or a folder "
                      "written by datasets' save_to_disk (see docs/data.md). `seeds_path` is accepted for it.")
    format: Literal["auto", "seeds", "alpaca", "chat"] = Field(
        "auto", description="seeds: prompt, reference; alpaca: instruction, input, output; chat: messages (the last "
        "assistant turn is the reference); auto: detected from the columns. id and category are optional.")
    columns: dict[str, str] = Field(default_factory=dict, description="The format's column -> your file's column, "
                                    "e.g. {prompt: question, reference: answer}.")
    validation_fraction: float = Field(
        0.15, gt=0.0, lt=1.0, description="Share of seeds per category the sweep selects its winner on (every trial "
        "is scored on it, so it cannot be 0).")
    test_fraction: float = Field(
        0.2, ge=0.0, lt=1.0, description="Share of seeds per category held out for evaluation and promotion "
        "(ignored with test_path).")
    test_path: str | None = Field(None, description="A file of your own (same format and columns as `path`) that is "
                                  "the test split; `path` then gives train and validation only.")
    max_seeds: int | None = Field(None, ge=2, description="Use at most this many seeds (None: all).")
    seed: int = Field(0, description="Random seed of the train/validation/test split.")
    seeds_sha256: str | None = Field(
        None, description="Filled in by validation from the file's bytes; it keys ZenML's cache and the registry's data tag."
    )
    test_sha256: str | None = Field(None, description="Filled in by validation from test_path's bytes, when given.")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, values: Any) -> Any:
        if isinstance(values, dict) and "eval_fraction" in values:
            raise ValueError("eval_fraction was split in two: set validation_fraction (the sweep selects on it) and "
                             "test_fraction (evaluation and promotion read it)")
        if isinstance(values, dict) and "seeds_path" in values:
            if "path" in values:
                raise ValueError("set data.path or its older name data.seeds_path, not both")
            problem = isinstance(values["seeds_path"], str) and check_source(values["seeds_path"])
            if problem:  # named as the user wrote it
                raise ValueError(f"seeds_path: {problem}")
            values = {("path" if k == "seeds_path" else k): v for k, v in values.items()}
        return values

    @property
    def seeds_path(self) -> str:
        """The older name of `path`."""
        return self.path

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, columns: dict[str, str]) -> dict[str, str]:
        known = sorted({c for required, optional in FORMAT_COLUMNS.values() for c in required + optional})
        unknown = sorted(set(columns) - set(known))
        if unknown:
            raise ValueError(f"{unknown}: not a column of any format; map some of {known} to your file's columns")
        return columns

    @model_validator(mode="after")
    def _files_exist(self) -> DataConfig:
        object.__setattr__(self, "seeds_sha256", _file_sha256("path", self.path, self.seeds_sha256))
        if self.test_path is not None:
            object.__setattr__(self, "test_sha256", _file_sha256("test_path", self.test_path, self.test_sha256))
        if self.test_path is None and self.test_fraction + self.validation_fraction >= 1.0:
            raise ValueError(f"validation_fraction + test_fraction ({self.validation_fraction} + {self.test_fraction}) "
                             "must leave rows to train on (below 1)")
        if self.test_path is None and self.test_fraction == 0:
            raise ValueError("test_fraction is 0 and there is no test_path: nothing would be evaluated")
        return self


def _file_sha256(field: str, value: str, expected: str | None) -> str:
    problem = check_source(value)
    if problem:
        raise ValueError(f"{field}: {problem}")
    digest = source_sha256(value)
    if expected not in (None, digest):
        raise ValueError(f"{field}: the file's sha256 {digest} does not match the recorded {expected}")
    return digest


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


DEFAULT_REFUSALS = [r"\bas an ai\b", r"\bi cannot\b", r"\bi can't\b", r"\bi'm sorry\b", r"\bi am sorry\b",
                    r"\bas a language model\b", r"#\s*(?:given|rewritten|created) prompt#"]


class GateConfig(_Section):
    """Dedup, row filters and the Great Expectations suite in front of teacher inference."""

    min_prompt_chars: int = Field(8, ge=1, description="Row filter: shorter prompts are rejected.")
    max_prompt_chars: int = Field(1000, ge=1, description="Row filter: longer prompts are rejected.")
    min_prompt_tokens: int = Field(3, ge=1, description="Row filter: prompts with fewer teacher tokens are rejected.")
    max_prompt_tokens: int = Field(256, ge=1, description="Row filter: prompts with more teacher tokens are rejected.")
    refusal_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_REFUSALS),
                                        description="Case-insensitive regexes of refusal/boilerplate text.")
    near_duplicate_threshold: float | None = Field(
        0.7, gt=0.0, le=1.0, description="MinHash estimated Jaccard of character 5-grams at which a row is a near duplicate; null: off.")
    semantic_duplicate_threshold: float | None = Field(
        0.9, gt=0.0, le=1.0, description="Cosine of all-MiniLM-L6-v2 embeddings at which a row is a paraphrase; null: off.")
    minhash_num_perm: int = Field(64, ge=16, le=512, description="MinHash permutations (more: better Jaccard estimates, slower).")
    min_rows: int = Field(20, ge=1, description="Aggregate: at least this many training rows must remain.")
    max_rejected_fraction: float = Field(0.9, ge=0.0, le=1.0, description="Aggregate: at most this share of candidates rejected.")
    decontaminate: list[str] = Field(
        default_factory=list, description="Benchmark files (any data format): a train or validation row sharing an "
        "n-gram with a prompt or reference of theirs is rejected; always checked against the run's own test split.")
    decontamination_ngram: int = Field(13, ge=4, le=64, description="Words per n-gram of the contamination check "
                                       "(13, as in the GPT-3 and Llama reports).")
    decontamination_max_rows: int = Field(10, ge=1, description="An n-gram shared by more candidate rows than this is "
                                          "boilerplate (an instruction preamble) and ignored, as in the GPT-3 report.")
    decontaminate_sha256: list[str] | None = Field(
        None, description="Filled in by validation from the decontaminate files' bytes; it keys ZenML's cache.")

    @model_validator(mode="after")
    def _consistent(self) -> GateConfig:
        if self.min_prompt_chars >= self.max_prompt_chars:
            raise ValueError(f"min_prompt_chars ({self.min_prompt_chars}) must be below max_prompt_chars ({self.max_prompt_chars})")
        if self.min_prompt_tokens >= self.max_prompt_tokens:
            raise ValueError(f"min_prompt_tokens ({self.min_prompt_tokens}) must be below max_prompt_tokens ({self.max_prompt_tokens})")
        for pattern in self.refusal_patterns:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"refusal_patterns: '{pattern}' is not a valid regex ({err})") from None
        recorded = self.decontaminate_sha256 or [None] * len(self.decontaminate)
        if len(recorded) != len(self.decontaminate):
            raise ValueError("decontaminate_sha256 must have one entry per decontaminate file")
        object.__setattr__(self, "decontaminate_sha256", [
            _file_sha256(f"decontaminate[{i}]", path, expected)
            for i, (path, expected) in enumerate(zip(self.decontaminate, recorded))])
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
    api_key_env: str = Field("OPENAI_API_KEY", description="openai backend: the environment variable holding the API key.")
    timeout_s: float = Field(120.0, gt=0, description="openai backend: seconds one request may take.")
    max_retries: int = Field(3, ge=0, description="openai backend: retries (SDK backoff) on connection errors, 429, 5xx.")
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


class TrainingConfig(_Section):
    objective: Literal[tuple(objectives.OBJECTIVES)] = Field(  # type: ignore[valid-type]
        "fkl", description=objectives.describe())
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
    def objective_record(self) -> objectives.Objective:
        return objectives.OBJECTIVES[self.objective]


SWEEP_KEYS = ("objective", "learning_rate", *objectives.KNOBS, "epochs", "num_layers")
"""What a sweep may vary, in expansion order: TrainingConfig fields (the objective, its knobs from the objective
registry, the shared ones), plus `num_layers` (the student's size, StudentConfig.num_layers)."""


class SweepConfig(_Section):
    """A grid (or random samples of it) over objectives and hyper-parameters; empty grid: one trial, `training` as is."""

    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description=f"Values per key, each list non-empty; keys among {list(SWEEP_KEYS)}. Unset keys keep `training`'s value.",
    )
    mode: Literal["grid", "random"] = Field("grid", description="grid: every combination; random: `samples` of them.")
    seeds: list[int] = Field(
        default_factory=list, description="Train every configuration once per seed (training.seed); the winner is "
        "chosen on the mean over seeds and the spread is shown. Empty: training.seed only.")
    samples: int = Field(4, ge=1, description="random mode: how many distinct combinations to draw.")
    seed: int = Field(0, description="random mode: seed of the draw.")
    metric: Literal[TRIAL_METRICS] = Field(  # type: ignore[valid-type]
        "rougeL_vs_teacher", description="Validation metric that picks the trial going on to evaluation and registration."
    )
    eval_examples: int = Field(16, ge=1, description="Validation prompts each trial is scored on.")
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


class JudgeConfig(_Section):
    """A judge other than the teacher: a local model (hf) or, usually, a strong model behind an API (openai)."""

    backend: Literal["hf", "openai"] = Field("hf", description="hf: a local model spec; openai: an OpenAI-compatible chat server.")
    model: str = Field(description="hf: a model spec (as teacher.model); openai: the model name on the server.")
    base_url: str | None = Field(None, description="openai: the server's base URL, e.g. https://api.openai.com/v1.")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: the environment variable holding the API key.")
    concurrency: int = Field(4, ge=1, description="openai: requests in flight at once.")
    timeout_s: float = Field(60.0, gt=0, description="openai: seconds one request may take.")
    max_retries: int = Field(3, ge=0, description="openai: retries (SDK backoff) on connection errors, 429, 5xx.")

    @model_validator(mode="after")
    def _complete(self) -> JudgeConfig:
        if self.backend == "openai" and not self.base_url:
            raise ValueError("judge backend 'openai' needs evaluation.judge.base_url, e.g. https://api.openai.com/v1")
        if self.backend == "hf":
            _check_spec(self.model)
        return self


class EvaluationConfig(_Section):
    """The evaluation on the test split. The expensive parts (judge, batch-1 latency, speculative decoding) are sized here."""

    max_new_tokens: int = Field(64, ge=1)
    batch_size: int = Field(8, ge=1)
    max_examples: int | None = Field(None, ge=1, description="Evaluate on at most this many test prompts.")
    judge_model: str | None = Field(
        None, description="Judge model spec for the pairwise win rate (same forms as teacher.model); None: the teacher."
    )
    judge: JudgeConfig | None = Field(None, description="The judge as a section (a served model: backend openai); "
                                      "None: judge_model, or the teacher.")
    judge_pairs: int = Field(8, ge=0, description="Student/teacher answer pairs judged (each in both orders); 0: no judge.")
    efficiency_prompts: int = Field(
        8, ge=0, description="Prompts for the speed measurements (batch-1 latency p50/p95, batched tokens/s, peak "
        "memory, speculative decoding): 0 skips them, otherwise at least 8.")
    speed_new_tokens: int = Field(
        32, ge=1, description="Every speed measurement generates exactly this many tokens per prompt (EOS ignored), "
        "so a model that stops early does not look fast.")
    speculative: bool = Field(True, description="Measure the student as draft model for the teacher (needs efficiency_prompts > 0).")
    ece_bins: int = Field(10, ge=2, le=100, description="Equal-width confidence bins of the expected calibration error.")
    exposure_bucket: int = Field(8, ge=1, description="Response positions per point of the exposure-bias curve.")

    @field_validator("judge_model")
    @classmethod
    def _known_spec(cls, value: str | None) -> str | None:
        return value if value is None else _check_spec(value)

    @model_validator(mode="after")
    def _one_judge(self) -> EvaluationConfig:
        if self.judge is not None and self.judge_model is not None:
            raise ValueError("set evaluation.judge or evaluation.judge_model, not both")
        return self

    @property
    def local_judge_model(self) -> str | None:
        """The judge's model spec when it runs here (None: the teacher judges, or a served judge does)."""
        if self.judge is not None:
            return self.judge.model if self.judge.backend == "hf" else None
        return self.judge_model

    @field_validator("efficiency_prompts")
    @classmethod
    def _enough_prompts(cls, value: int) -> int:
        if 0 < value < 8:
            raise ValueError(f"{value} prompts are too few for latency percentiles; use 0 (skip) or at least 8")
        return value


# Any metric of the catalog (fastdistill.evaluation.catalog); a typo is refused with the full list.
MetricName = Literal[tuple(CATALOG)]  # type: ignore[valid-type]


HEALTH_CHECKS = ("degenerate_output", "uninformative_judge", "self_judge", "small_test_set")
"""Codes of `fastdistill.evaluation.health`'s checks, which `registry.refuse_on` may name."""


class RegistryConfig(_Section):
    """Registration and the promotion gate that moves the `champion` alias (see fastdistill.registry.promotion).

    With `decision: ci` a challenger is promoted only when the lower bound of the paired 95% CI of
    (challenger - champion) on `metric`, on the same test prompts, exceeds `min_delta`; thresholds and
    must-not-regress read the CI the same way. The champion is compared like with like: the same teacher
    and the same test set (re-scored on this one when it was scored on another).
    """

    model_name: str = Field("fastdistill-student", min_length=1)
    metric: MetricName = Field("rougeL_vs_teacher", description="Metric that ranks a challenger against the champion.")
    greater_is_better: bool | None = Field(
        None, description="Direction of `metric`; None: the metric's known direction (e.g. lower KL is better)."
    )
    decision: Literal["ci", "point"] = Field(
        "ci", description="ci: decide on paired bootstrap 95% CIs (noise does not promote); point: on point estimates.")
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
    refuse_on: list[Literal[HEALTH_CHECKS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["degenerate_output"],
        description="Health checks that refuse a challenger when they fire (a looping student is never promoted).")
    allow_teacher_change: bool = Field(
        False, description="Compare a challenger with a champion distilled from another teacher (off: held).")


class BornAgainConfig(_Section):
    """A Born-Again chain: each generation learns from the previous one's student (see fastdistill.registry.born_again)."""

    chain_id: str = Field("ban", pattern=r"^[a-z0-9][a-z0-9-]{0,40}$", description="Names the chain (lowercase, digits, '-').")
    generations: int = Field(3, ge=1, le=50, description="Generation limit of the chain.")
    metric: str = Field("rougeL_vs_reference", description="Test-split metric each generation must improve over its teacher "
                        "(teacher-independent).")
    greater_is_better: bool = True
    min_improvement: float = Field(0.0, ge=0.0, description="Required margin over the generation's teacher.")
    stop_on_no_improvement: bool = Field(True, description="End the chain at the first generation that does not improve "
                                         "(false: run to the limit; the champion still only moves on improvement).")


def memory_bytes(quantity: str | int) -> int:
    """Bytes of a Kubernetes memory quantity ("64Gi", "48G", "512Mi"); ValueError naming the value otherwise."""
    from kubernetes.utils import parse_quantity

    try:
        return int(parse_quantity(quantity))
    except ValueError:
        raise ValueError(f"{quantity!r} is not a Kubernetes memory quantity (e.g. 128Gi, 48G, 512Mi)") from None


class PoolConfig(_Section):
    """One node pool of the cluster, as Terraform provisions it (infra/terraform/<gke|eks> variables)."""

    instance_type: str = Field(min_length=1, description="Machine type of its nodes (g6.8xlarge, g2-standard-32).")
    memory: str = Field(description="Memory of one node, a Kubernetes quantity (128Gi).")
    gpus: int = Field(0, ge=0, description="GPUs per node.")
    gpu_memory: str | None = Field(None, description="Memory of one GPU (an L4: 24Gi); required when gpus > 0.")

    @field_validator("memory", "gpu_memory")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is not None:
            memory_bytes(value)
        return value

    @model_validator(mode="after")
    def _gpu_memory_with_gpus(self) -> PoolConfig:
        if self.gpus and self.gpu_memory is None:
            raise ValueError(f"gpus = {self.gpus} needs gpu_memory (the memory of one GPU, e.g. 24Gi for an L4)")
        return self


class ClusterConfig(_Section):
    """The node pools of the Kubernetes cluster a run is placed on. No pipeline takes this section: the checks
    before a run (`fastdistill.infra.capacity`) read it to refuse a pod that does not fit its pool, and a step
    whose models do not fit its pod."""

    pools: dict[str, PoolConfig] = Field(min_length=1, description="By the `pool` label the steps select.")


class RunConfig(_Section):
    """Everything under `parameters:` in a run YAML: one section per pipeline parameter, plus `cluster`
    (optional, read only by the Kubernetes checks)."""

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
    cluster: ClusterConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _validate_default_data(cls, values: Any) -> Any:
        # DataConfig's defaults check a file on disk, so they cannot be a class-level default.
        if isinstance(values, dict) and "data" not in values:
            values = {**values, "data": {}}
        return values


def fingerprint(*sections: BaseModel) -> str:
    """sha256 of the sections' canonical JSON: equal configs give equal fingerprints."""
    payload = [(type(s).__name__, s.model_dump(mode="json")) for s in sections]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
