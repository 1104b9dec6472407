"""Every metric FastDistill reports, one entry each: its group, its direction, and how it is aggregated.

The one place a metric is defined. The config refuses an unknown metric name
from it (registry.metric, thresholds, sweep.metric), the sweep and the
promotion gate read each metric's direction here, and the terminal summary,
the report, MLflow and the evaluation JSON group metrics the same way.

`per_example`: the value is a mean over evaluation examples (or over their
tokens), so it can carry a sample size and a confidence interval;
otherwise it is an aggregate of the whole set (a corpus statistic, a count,
a timing). `trial`: every sweep trial is scored on it, so `sweep.metric`
may pick the winner by it.

Pure Python: config validation imports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    group: str
    higher_is_better: bool
    per_example: bool
    trial: bool = False


GROUPS = ("quality", "fidelity", "calibration", "diversity", "exposure_bias", "judge", "efficiency", "speculative", "data")
_HIGHER, _LOWER = True, False
_PER_EXAMPLE, _AGGREGATE = True, False

CATALOG: dict[str, Metric] = {m.name: m for m in (
    Metric("rougeL_vs_reference", "quality", _HIGHER, _PER_EXAMPLE, trial=True),
    Metric("rougeL_vs_teacher", "quality", _HIGHER, _PER_EXAMPLE, trial=True),
    Metric("exact_match", "quality", _HIGHER, _PER_EXAMPLE),
    Metric("numeric_match", "quality", _HIGHER, _PER_EXAMPLE),
    Metric("teacher_rougeL_vs_reference", "quality", _HIGHER, _PER_EXAMPLE),
    Metric("teacher_exact_match", "quality", _HIGHER, _PER_EXAMPLE),
    Metric("teacher_numeric_match", "quality", _HIGHER, _PER_EXAMPLE),
    Metric("teacher_forced_kl", "fidelity", _LOWER, _PER_EXAMPLE, trial=True),
    Metric("teacher_forced_reverse_kl", "fidelity", _LOWER, _PER_EXAMPLE),
    Metric("top1_agreement", "fidelity", _HIGHER, _PER_EXAMPLE, trial=True),
    Metric("eval_ce", "fidelity", _LOWER, _PER_EXAMPLE, trial=True),
    Metric("ece", "calibration", _LOWER, _AGGREGATE),
    Metric("distinct_1", "diversity", _HIGHER, _AGGREGATE),
    Metric("distinct_2", "diversity", _HIGHER, _AGGREGATE),
    Metric("self_bleu", "diversity", _LOWER, _AGGREGATE),
    Metric("teacher_distinct_2", "diversity", _HIGHER, _AGGREGATE),
    Metric("teacher_self_bleu", "diversity", _LOWER, _AGGREGATE),
    Metric("free_running_agreement", "exposure_bias", _HIGHER, _PER_EXAMPLE),
    Metric("exposure_bias_gap", "exposure_bias", _LOWER, _AGGREGATE),
    Metric("exposure_bias_decay", "exposure_bias", _LOWER, _AGGREGATE),
    Metric("judge_win_rate", "judge", _HIGHER, _PER_EXAMPLE),
    Metric("judge_preference", "judge", _HIGHER, _PER_EXAMPLE),
    Metric("judge_consistency", "judge", _HIGHER, _PER_EXAMPLE),
    Metric("judge_first_position_rate", "judge", _HIGHER, _PER_EXAMPLE),  # diagnostic: 0.5 is unbiased; not for gating
    Metric("judge_pairs", "judge", _HIGHER, _AGGREGATE),
    Metric("student_params", "efficiency", _LOWER, _AGGREGATE),
    Metric("teacher_params", "efficiency", _LOWER, _AGGREGATE),
    Metric("param_ratio", "efficiency", _LOWER, _AGGREGATE),
    Metric("student_disk_mb", "efficiency", _LOWER, _AGGREGATE),
    Metric("teacher_disk_mb", "efficiency", _LOWER, _AGGREGATE),
    Metric("student_latency_p50_s", "efficiency", _LOWER, _AGGREGATE),
    Metric("student_latency_p95_s", "efficiency", _LOWER, _AGGREGATE),
    Metric("teacher_latency_p50_s", "efficiency", _LOWER, _AGGREGATE),
    Metric("teacher_latency_p95_s", "efficiency", _LOWER, _AGGREGATE),
    Metric("latency_speedup", "efficiency", _HIGHER, _AGGREGATE),
    Metric("student_peak_memory_mb", "efficiency", _LOWER, _AGGREGATE),
    Metric("teacher_peak_memory_mb", "efficiency", _LOWER, _AGGREGATE),
    Metric("memory_ratio", "efficiency", _LOWER, _AGGREGATE),
    Metric("student_tokens_per_s", "efficiency", _HIGHER, _AGGREGATE),
    Metric("teacher_tokens_per_s", "efficiency", _HIGHER, _AGGREGATE),
    Metric("speedup_vs_teacher", "efficiency", _HIGHER, _AGGREGATE),
    Metric("spec_acceptance_rate", "speculative", _HIGHER, _AGGREGATE),
    Metric("spec_speedup", "speculative", _HIGHER, _AGGREGATE),
    Metric("spec_outputs_match", "speculative", _HIGHER, _AGGREGATE),
    Metric("speed_prompts", "efficiency", _HIGHER, _AGGREGATE),
    Metric("speed_new_tokens", "efficiency", _HIGHER, _AGGREGATE),
    Metric("eval_examples", "data", _HIGHER, _AGGREGATE),
)}

TRIAL_METRICS: tuple[str, ...] = tuple(name for name, m in CATALOG.items() if m.trial)
"""What every sweep trial is scored on (`fastdistill.training.trial_scoring`)."""


def group_of(name: str) -> str:
    return CATALOG[name].group if name in CATALOG else "other"


def grouped(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """{group: {name: value}} in GROUPS order; unknown names under "other"."""
    out: dict[str, dict[str, float]] = {}
    for group in (*GROUPS, "other"):
        members = {k: v for k, v in sorted(metrics.items()) if group_of(k) == group}
        if members:
            out[group] = members
    return out


def higher_is_better(name: str) -> bool:
    if name not in CATALOG:
        raise KeyError(f"'{name}' is not a known metric; known: {sorted(CATALOG)}")
    return CATALOG[name].higher_is_better
