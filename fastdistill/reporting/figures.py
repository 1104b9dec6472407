"""The report's figures: matplotlib (Agg) rendered to base64 PNG data URIs, so the page needs no side files."""

from __future__ import annotations

import base64
import io

from fastdistill.evaluation.catalog import TRIAL_METRICS


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def sweep_figure(trials: list[dict] | None) -> str:
    """One panel per metric, one bar per trial; the best trial in a strong colour."""
    if not trials:
        return ""
    metrics = [m for m in TRIAL_METRICS if any(m in t.get("metrics", {}) for t in trials)]
    metrics = metrics or sorted({m for t in trials for m in t.get("metrics", {})})[:4]
    if not metrics:
        return ""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.4), squeeze=False)
    names = [str(t.get("trial", i)) for i, t in enumerate(trials)]
    colours = ["#d62728" if t.get("best") else "#7f7f7f" for t in trials]
    for ax, metric in zip(axes[0], metrics):
        values = [t.get("metrics", {}).get(metric, float("nan")) for t in trials]
        ax.bar(range(len(trials)), values, color=colours)
        ax.set_xticks(range(len(trials)), names, rotation=45, ha="right", fontsize=8)
        ax.set_title(metric, fontsize=9)
    fig.suptitle("sweep: trials compared (best in red)", fontsize=10)
    return _png(fig)


def training_figure(trials: list[dict] | None, loss_history: dict[str, list[tuple[int, float]]]) -> str:
    """Loss against step: per trial from the sweep's histories, else the run's logged train/* series."""
    series: dict[str, list[tuple[int, float]]] = {}
    for i, trial in enumerate(trials or []):
        name = str(trial.get("trial", i)) + (" (best)" if trial.get("best") else "")
        rows = [r for r in trial.get("history") or [] if "loss" in r and "step" in r]
        if rows:
            series[name] = [(r["step"], r["loss"]) for r in rows]
    if not series:
        series = {k: v for k, v in loss_history.items() if v}
    if not series:
        return ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, points in sorted(series.items()):
        ax.plot([p[0] for p in points], [p[1] for p in points], label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("training curves")
    ax.legend(fontsize=8)
    return _png(fig)


EFFICIENCY_PANELS = (
    ("tokens/s (batched)", "tokens_per_s", 1.0),
    ("latency p50 (s)", "latency_p50_s", 1.0),
    ("latency p95 (s)", "latency_p95_s", 1.0),
    ("peak memory (MB)", "peak_memory_mb", 1.0),
    ("weights on disk (MB)", "disk_mb", 1.0),
    ("parameters (M)", "params", 1e-6),
)


def efficiency_figure(metrics: dict[str, float]) -> str:
    """Teacher and student side by side for every efficiency quantity measured."""
    panels = [(title, metrics[f"teacher_{key}"] * scale, metrics[f"student_{key}"] * scale)
              for title, key, scale in EFFICIENCY_PANELS
              if f"teacher_{key}" in metrics and f"student_{key}" in metrics]
    if not panels:
        return ""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(2.3 * len(panels), 3.0), squeeze=False)
    for ax, (title, teacher, student) in zip(axes[0], panels):
        ax.bar([0, 1], [teacher, student], color=["#1f77b4", "#ff7f0e"])
        ax.set_xticks([0, 1], ["teacher", "student"], fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.suptitle("teacher vs student, same prompts and settings", fontsize=10)
    return _png(fig)


def exposure_figure(curve: list[dict] | None) -> str:
    if not curve:
        return ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = [(c["start"] + c["end"]) / 2 for c in curve]
    for key, label in (("teacher_forced", "teacher-forced (teacher's prefix)"),
                       ("free_running", "free-running (student's own prefix)")):
        ax.plot(x, [c[key] if c[key] is not None else float("nan") for c in curve], marker="o", label=label)
    ax.set_xlabel("response position (tokens)")
    ax.set_ylabel("top-1 agreement with the teacher")
    ax.set_ylim(0, 1.05)
    ax.set_title("exposure bias: agreement by position")
    ax.legend(fontsize=8)
    return _png(fig)


def born_again_figure(generations: list[dict] | None) -> str:
    if not generations:
        return ""
    ordered = sorted(generations, key=lambda g: g.get("generation", 0))
    metrics = [m for m in TRIAL_METRICS if any(m in g.get("metrics", {}) for g in ordered)]
    if not metrics:
        return ""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), squeeze=False)
    gens = [g.get("generation", i) for i, g in enumerate(ordered)]
    reference = ordered[0].get("original_teacher") or {}
    for ax, metric in zip(axes[0], metrics):
        ax.plot(gens, [g.get("metrics", {}).get(metric, float("nan")) for g in ordered], marker="o", label="generation")
        if metric in reference:  # the chain's starting point: the original teacher's own score
            ax.axhline(reference[metric], color="grey", linestyle="--", label="original teacher")
            ax.legend(fontsize=7)
        ax.set_xticks(gens)
        ax.set_xlabel("generation")
        ax.set_title(metric, fontsize=9)
    fig.suptitle("Born-Again generations", fontsize=10)
    return _png(fig)


