"""End-of-run summary: a terminal table and one self-contained HTML report per run.

The report embeds its figures as base64 PNGs (matplotlib, Agg), so the file
opens anywhere with no network and no side files: sweep comparison,
training curves, teacher vs student efficiency, the exposure-bias curve and
Born-Again generations when present, plus the metric table grouped as in
`metric_catalog`, the registry decision, judge verdicts and samples. Every
figure is an `<img data-figure=NAME>`; a small inline script marks on the
body how many of them the browser decoded (the headless-browser test reads
it).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fastdistill.evaluation.catalog import grouped

DETAILS_ARTIFACT = "evaluation/details.json"
REPORT_ARTIFACT = "report"
SWEEP_METRICS = ("rougeL_vs_teacher", "rougeL_vs_reference", "top1_agreement", "teacher_forced_kl")
LOSS_KEYS = ("loss", "ce_loss", "kd_loss")


@dataclass
class RunSummary:
    run_name: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    registration: dict = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)
    loss_history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    tracking_uri: str = ""
    mlflow_run_id: str = ""
    data_quality: dict[str, int] = field(default_factory=dict)  # gate counts and rejected rows per reason
    sweep_results: list[dict] | None = None  # one dict per trial: trial, params, metrics, history, mlflow_run_id, best
    born_again: list[dict] | None = None  # one dict per generation: generation, metrics, version
    details: dict = field(default_factory=dict)  # evaluation curves: exposure_bias, latency, judge


def print_summary(summary: RunSummary, report_path: Path | None, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"FastDistill run {summary.run_name}: {summary.status}")
    table.add_column("group")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for group, members in grouped(summary.metrics).items():
        for name, value in members.items():
            table.add_row(group, name, _fmt(value))
    console.print(table)
    if summary.sweep_results and len(summary.sweep_results) > 1:
        console.print(sweep_table(summary.sweep_results))
    reg = summary.registration
    if reg:
        console.print(f"registered [bold]{reg['name']}[/] version {reg['version']} aliases {reg['aliases']}"
                      + (f" ({reg['decision']})" if reg.get("decision") else ""))
        console.print(f"  {reg['reason']}")
        console.print(f"  load it: mlflow.transformers.load_model('{reg['model_uri']}')")
    if summary.data_quality:
        console.print("data: " + ", ".join(f"{k} {v}" for k, v in summary.data_quality.items()), soft_wrap=True)
    console.print("where to look:")
    if summary.tracking_uri:
        console.print(f"  MLflow UI:       mlflow ui --backend-store-uri {summary.tracking_uri}", soft_wrap=True)
    console.print("  ZenML dashboard: zenml login --local")
    if report_path:
        console.print(f"  report:          {report_path}", soft_wrap=True)


def sweep_table(results: list[dict]) -> Table:
    """The trials side by side on their held-out scores, the one that went on to evaluation marked.

    One row per metric and one column per trial: metric names are long and trials few, so this way round
    the table fits an 80-column terminal without cutting a name.
    """
    names = sorted({k for r in results for k in r.get("metrics", {})})
    table = Table(title="training sweep (held-out scores of each trial)")
    table.add_column("metric")
    for r in results:
        table.add_column(f"{r['trial']} (best)" if r.get("best") else r["trial"], justify="right")
    for name in names:
        table.add_row(name, *(_fmt(r["metrics"][name]) if name in r.get("metrics", {}) else "-" for r in results))
    table.add_row("train seconds", *(_fmt(float(r.get("seconds", 0.0))) for r in results))
    return table


def _fmt(value: float) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return str(value)
    if abs(value) >= 1e5:
        return f"{value:,.0f}"
    return f"{value:.4f}"


# ------------------------------------------------------------------------------------------------ figures


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
    metrics = [m for m in SWEEP_METRICS if any(m in t.get("metrics", {}) for t in trials)]
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
    metrics = [m for m in SWEEP_METRICS if any(m in g.get("metrics", {}) for g in ordered)]
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


# ------------------------------------------------------------------------------------------------ page

_STYLE = """body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;vertical-align:top}
th{background:#f3f3f3}img{max-width:100%;display:block;margin:.5em 0}.muted{color:#777}"""

_COUNT_FIGURES = """<script>window.addEventListener('load',function(){var imgs=document.querySelectorAll('img[data-figure]');
var ok=0;imgs.forEach(function(i){if(i.complete&&i.naturalWidth>0){ok++;i.setAttribute('data-rendered','yes');}});
document.body.setAttribute('data-figures',imgs.length);document.body.setAttribute('data-figures-rendered',ok);});</script>"""


def _figure(name: str, uri: str, missing: str) -> str:
    if not uri:
        return f'<p class="muted">{html.escape(missing)}</p>'
    return f'<img data-figure="{name}" src="{uri}" alt="{html.escape(name)}">'


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _metric_table(metrics: dict[str, float]) -> str:
    rows = [[html.escape(g), html.escape(k), _fmt(v)] for g, members in grouped(metrics).items()
            for k, v in members.items()]
    return _table(["group", "metric", "value"], rows) if rows else "<p>no metrics</p>"


def _sweep_table(trials: list[dict] | None) -> str:
    if not trials:
        return '<p class="muted">no sweep results: a single training run</p>'
    metrics = sorted({m for t in trials for m in t.get("metrics", {})})
    rows = [[("<b>%s</b> (best)" if t.get("best") else "%s") % html.escape(str(t.get("trial"))),
             html.escape(json.dumps(t.get("params", {}), sort_keys=True))]
            + [_fmt(t.get("metrics", {}).get(m, float("nan"))) for m in metrics] for t in trials]
    return _table(["trial", "params", *metrics], rows)


def _registry_section(reg: dict) -> str:
    if not reg:
        return "<p>not registered</p>"
    esc = html.escape
    parts = [f"{esc(str(reg.get('name')))} v{esc(str(reg.get('version')))}, aliases {esc(str(reg.get('aliases')))}"]
    if reg.get("decision"):
        parts.append(f"decision <b>{esc(str(reg['decision']))}</b>")
    if reg.get("previous_champion"):
        parts.append(f"previous champion v{esc(str(reg['previous_champion']))}")
    return f"<p>{', '.join(parts)}</p><p>{esc(str(reg.get('reason', '')))}</p>"


def _judge_table(pairs: list[dict] | None) -> str:
    if not pairs:
        return '<p class="muted">no judge verdicts</p>'
    rows = [[html.escape(p["prompt"][:120]), f"{p['p_student_as_a']:.3f}", f"{p['p_student_as_b']:.3f}",
             {1.0: "student", 0.0: "teacher", 0.5: "tie"}[p["outcome"]]] for p in pairs]
    return _table(["prompt", "P(student better), student as A", "same, student as B", "verdict"], rows)


def render_html(summary: RunSummary) -> str:
    """The whole report as one HTML string."""
    esc = html.escape
    samples = _table(["prompt", "reference", "teacher", "student"], [
        [esc(str(s.get("prompt", ""))), esc(str(s.get("reference") or "")), esc(str(s.get("teacher", ""))),
         esc(str(s.get("student", "")))] for s in summary.samples[:20]])
    born = ""
    if summary.born_again:
        born = ("<h2>Born-Again generations</h2>" + _figure("born_again", born_again_figure(summary.born_again),
                                                              "no Born-Again metrics to plot")
                + _table(["generation", "version", "metrics"], [
                    [str(g.get("generation")), esc(str(g.get("version", ""))),
                     esc(", ".join(f"{k}={_fmt(v)}" for k, v in sorted(g.get("metrics", {}).items())))]
                    for g in sorted(summary.born_again, key=lambda g: g.get("generation", 0))]))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>FastDistill {esc(summary.run_name)}</title>
<style>{_STYLE}</style>{_COUNT_FIGURES}</head><body>
<h1>FastDistill run {esc(summary.run_name)}</h1><p>Status: <b>{esc(summary.status)}</b>.
MLflow run {esc(summary.mlflow_run_id or "unknown")} at {esc(summary.tracking_uri or "unknown")}.</p>
<h2>Registry</h2>{_registry_section(summary.registration)}
<h2>Data quality gate</h2>{_table(["count", "rows"], [[esc(k), str(v)] for k, v in summary.data_quality.items()])
                             if summary.data_quality else '<p class="muted">not recorded</p>'}
<h2>Sweep</h2>{_figure("sweep", sweep_figure(summary.sweep_results), "no sweep comparison: a single training run")}
{_sweep_table(summary.sweep_results)}
<h2>Training</h2>{_figure("training", training_figure(summary.sweep_results, summary.loss_history), "no training history")}
<h2>Evaluation (held-out split)</h2>{_metric_table(summary.metrics)}
<h2>Teacher vs student efficiency</h2>{_figure("efficiency", efficiency_figure(summary.metrics), "efficiency was not measured")}
<h2>Exposure bias</h2>{_figure("exposure_bias", exposure_figure(summary.details.get("exposure_bias")), "no exposure-bias curve")}
{born}
<h2>Judge (each pair in both orders)</h2>{_judge_table(summary.details.get("judge"))}
<h2>Samples</h2>{samples}
</body></html>"""


def write_html_report(summary: RunSummary, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_html(summary))
    tmp.replace(path)  # a reader never sees half a report
    return path


def read_mlflow_parts(client, run_id: str) -> tuple[dict, dict[str, list[tuple[int, float]]]]:
    """The evaluation details and the train/* loss curves that a run logged to MLflow."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as tmp:
            details = json.loads(Path(client.download_artifacts(run_id, DETAILS_ARTIFACT, tmp)).read_text())
    except Exception:  # a run evaluated before details were logged, or without an evaluation
        details = {}
    history = {}
    for key in LOSS_KEYS:
        points = client.get_metric_history(run_id, f"train/{key}")
        if points:
            history[f"train/{key}"] = [(m.step, m.value) for m in points]
    return details, history


def log_to_mlflow(client, run_id: str, page: str, name: str = "report.html") -> None:
    client.log_text(run_id, page, f"{REPORT_ARTIFACT}/{name}")
