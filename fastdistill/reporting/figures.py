"""The report's figures: matplotlib (Agg) rendered to inline SVG, so the page needs no side files.

Every bar that shows an estimate carries its 95% CI as an error bar, and
each error bar's group has an id `errorbar-<figure>-<panel>` in the SVG: the
headless-browser test finds and measures them. A quantity measured once (a
parameter count, batched throughput) is not drawn as a bar: it has no
interval to show, and the metric table lists it.
"""

from __future__ import annotations

import io

from fastdistill.evaluation.catalog import TRIAL_METRICS
from fastdistill.evaluation.scores import Scores
from fastdistill.evaluation.statistics import Estimate, bootstrap_mean

STUDENT, TEACHER, CHOSEN, OTHER = "#ff7f0e", "#1f77b4", "#d62728", "#7f7f7f"
QUALITY_PAIRS = (  # (student metric, the teacher's own on the same prompts)
    ("rougeL_vs_reference", "teacher_rougeL_vs_reference"),
    ("exact_match", "teacher_exact_match"),
    ("numeric_match", "teacher_numeric_match"),
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _svg(fig, name: str) -> str:
    """The figure as an inline `<svg>` element (text as text; ids salted by figure name so two never clash)."""
    import matplotlib

    plt = _pyplot()
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.tight_layout()
        fig.savefig(buffer, format="svg", metadata={"Date": None})  # no date: a report is reproducible
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _bars_with_ci(ax, labels: list[str], estimates: list[Estimate], colours: list[str], gid: str) -> None:
    """Bars at each estimate's value with its 95% CI as an error bar (none where it has no interval)."""
    values = [e.value for e in estimates]
    low = [e.value - e.ci_low if e.has_ci else 0.0 for e in estimates]
    high = [e.ci_high - e.value if e.has_ci else 0.0 for e in estimates]
    bars = ax.bar(range(len(values)), values, color=colours, yerr=[low, high], capsize=4, ecolor="#222")
    bars.errorbar.lines[2][0].set_gid(gid)
    ax.set_xticks(range(len(values)), labels, rotation=45 if len(labels) > 2 else 0, ha="right" if len(labels) > 2
                  else "center", fontsize=8)


def sweep_figure(trials: list[dict] | None) -> str:
    """One panel per metric, one bar per trial with its validation CI; the chosen trial in a strong colour."""
    scored = [t for t in trials or [] if t.get("scores")]
    if not scored:
        return ""
    all_scores = [Scores.model_validate(t["scores"]) for t in scored]
    metrics = [m for m in TRIAL_METRICS if all(s.measured(m) and m in s.per_example for s in all_scores)]
    if not metrics:
        return ""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.6), squeeze=False)
    names = [str(t.get("trial", i)) for i, t in enumerate(scored)]
    colours = [CHOSEN if t.get("best") else OTHER for t in scored]
    for k, (ax, metric) in enumerate(zip(axes[0], metrics)):
        _bars_with_ci(ax, names, [s.estimate(metric) for s in all_scores], colours, f"errorbar-sweep-{k}")
        ax.set_title(metric, fontsize=9)
    split, n = all_scores[0].split, len(all_scores[0].ids)
    fig.suptitle(f"sweep: trials on the {split} split (n={n}), 95% CI; the chosen trial in red", fontsize=10)
    return _svg(fig, "sweep")


def quality_figure(estimates: dict[str, dict], split: str) -> str:
    """Student beside teacher on the same test prompts, for each quality metric measured on both."""
    pairs = [(s, t) for s, t in QUALITY_PAIRS if s in estimates and t in estimates]
    if not pairs:
        return ""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(pairs), figsize=(2.8 * len(pairs), 3.2), squeeze=False)
    for k, (ax, (student, teacher)) in enumerate(zip(axes[0], pairs)):
        shown = [Estimate.model_validate(estimates[student]), Estimate.model_validate(estimates[teacher])]
        _bars_with_ci(ax, ["student", "teacher"], shown, [STUDENT, TEACHER], f"errorbar-quality-{k}")
        ax.set_title(student, fontsize=9)
    n = Estimate.model_validate(estimates[pairs[0][0]]).n
    fig.suptitle(f"quality on the {split} split (n={n}), 95% CI", fontsize=10)
    return _svg(fig, "quality")


def training_figure(trials: list[dict] | None, loss_history: dict[str, list[tuple[int, float]]]) -> str:
    """Loss against step: per trial from the sweep's histories, else the run's logged train/* series."""
    series: dict[str, list[tuple[int, float]]] = {}
    for i, trial in enumerate(trials or []):
        name = str(trial.get("trial", i)) + (" (chosen)" if trial.get("best") else "")
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
    return _svg(fig, "training")


def efficiency_figure(latency: dict | None) -> str:
    """Teacher and student at batch 1 on the same prompts and a fixed output length: seconds per answer and
    tokens/s, each a mean over the prompts with its 95% CI."""
    if not latency or not latency.get("student_seconds") or not latency.get("teacher_seconds"):
        return ""
    new_tokens = latency["new_tokens"]
    panels = []
    for title, per_prompt in (("seconds per answer", lambda s: s), ("tokens/s", lambda s: new_tokens / s)):
        panels.append((title, [bootstrap_mean([per_prompt(x) for x in latency[f"{who}_seconds"] if x > 0])
                               for who in ("teacher", "student")]))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.2), squeeze=False)
    for k, (ax, (title, shown)) in enumerate(zip(axes[0], panels)):
        _bars_with_ci(ax, ["teacher", "student"], shown, [TEACHER, STUDENT], f"errorbar-efficiency-{k}")
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"batch 1, {latency['prompts']} prompts, {new_tokens} new tokens (EOS ignored), 95% CI",
                 fontsize=10)
    return _svg(fig, "efficiency")


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
    return _svg(fig, "exposure_bias")


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
    fig.suptitle("Born-Again generations (test split)", fontsize=10)
    return _svg(fig, "born_again")


