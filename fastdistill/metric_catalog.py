"""Every metric the evaluation reports: its group and whether higher is better.

One table so the config can reject an unknown metric name, the promotion
gate knows each metric's direction, and the JSON output and the report group
metrics the same way.
"""

from __future__ import annotations

HIGHER, LOWER = True, False

# name: (group, higher is better)
CATALOG: dict[str, tuple[str, bool]] = {
    "rougeL_vs_reference": ("quality", HIGHER),
    "rougeL_vs_teacher": ("quality", HIGHER),
    "exact_match": ("quality", HIGHER),
    "numeric_match": ("quality", HIGHER),
    "teacher_rougeL_vs_reference": ("quality", HIGHER),
    "teacher_exact_match": ("quality", HIGHER),
    "teacher_numeric_match": ("quality", HIGHER),
    "teacher_forced_kl": ("fidelity", LOWER),
    "teacher_forced_reverse_kl": ("fidelity", LOWER),
    "top1_agreement": ("fidelity", HIGHER),
    "ece": ("calibration", LOWER),
    "distinct_1": ("diversity", HIGHER),
    "distinct_2": ("diversity", HIGHER),
    "self_bleu": ("diversity", LOWER),
    "teacher_distinct_2": ("diversity", HIGHER),
    "teacher_self_bleu": ("diversity", LOWER),
    "free_running_agreement": ("exposure_bias", HIGHER),
    "exposure_bias_gap": ("exposure_bias", LOWER),
    "exposure_bias_decay": ("exposure_bias", LOWER),
    "judge_win_rate": ("judge", HIGHER),
    "judge_preference": ("judge", HIGHER),
    "judge_consistency": ("judge", HIGHER),
    "judge_first_position_rate": ("judge", HIGHER),  # diagnostic: 0.5 is unbiased; not for gating
    "judge_pairs": ("judge", HIGHER),
    "student_params": ("efficiency", LOWER),
    "teacher_params": ("efficiency", LOWER),
    "param_ratio": ("efficiency", LOWER),
    "student_disk_mb": ("efficiency", LOWER),
    "teacher_disk_mb": ("efficiency", LOWER),
    "student_latency_p50_s": ("efficiency", LOWER),
    "student_latency_p95_s": ("efficiency", LOWER),
    "teacher_latency_p50_s": ("efficiency", LOWER),
    "teacher_latency_p95_s": ("efficiency", LOWER),
    "latency_speedup": ("efficiency", HIGHER),
    "student_peak_memory_mb": ("efficiency", LOWER),
    "teacher_peak_memory_mb": ("efficiency", LOWER),
    "memory_ratio": ("efficiency", LOWER),
    "student_tokens_per_s": ("efficiency", HIGHER),
    "teacher_tokens_per_s": ("efficiency", HIGHER),
    "speedup_vs_teacher": ("efficiency", HIGHER),
    "spec_acceptance_rate": ("speculative", HIGHER),
    "spec_speedup": ("speculative", HIGHER),
    "spec_outputs_match": ("speculative", HIGHER),
    "eval_examples": ("data", HIGHER),
}

DIRECTIONS: dict[str, bool] = {name: higher for name, (_, higher) in CATALOG.items()}
GROUPS = ("quality", "fidelity", "calibration", "diversity", "exposure_bias", "judge", "efficiency", "speculative", "data")


def group_of(name: str) -> str:
    return CATALOG[name][0] if name in CATALOG else "other"


def grouped(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """{group: {name: value}} in GROUPS order; unknown names under "other"."""
    out: dict[str, dict[str, float]] = {}
    for group in (*GROUPS, "other"):
        members = {k: v for k, v in sorted(metrics.items()) if group_of(k) == group}
        if members:
            out[group] = members
    return out


def higher_is_better(name: str) -> bool:
    if name not in DIRECTIONS:
        raise KeyError(f"'{name}' is not a known metric; known: {sorted(DIRECTIONS)}")
    return DIRECTIONS[name]
