"""One self-contained HTML report per run.

At the top, "How far to trust this": the split sizes, how the sweep chose,
the headline metrics with their 95% CIs and every health warning. Then the
figures, inline SVG (`fastdistill.reporting.figures`, error bars on every
bar), so the file opens anywhere with no network and no side files: sweep
comparison, training curves, quality and efficiency of student and teacher,
the exposure-bias curve and Born-Again generations when present; the metric
table grouped as in the metric catalog with CIs and n, the registry
decision, judge verdicts and samples. Every figure is a `<div
data-figure=NAME>`; a small inline script marks on the body how many
figures and error bars the browser laid out (the headless-browser test
reads it).

The page itself is `templates/report.html.j2`; this module only turns a
`RunSummary` into the plain values it shows (formatted numbers, sorted rows)
and lets the template escape them.
"""

from __future__ import annotations

import json
from pathlib import Path

from markupsafe import Markup

from fastdistill.evaluation.catalog import grouped
from fastdistill.reporting.figures import (
    born_again_figure,
    efficiency_figure,
    exposure_figure,
    quality_figure,
    sweep_figure,
    training_figure,
)
from fastdistill.reporting.summary import REPORT_ARTIFACT, RunSummary, _fmt, _short, _trial_cell, n_of, trust_lines
from fastdistill.reporting.templating import render

_VERDICTS = {1.0: "student", 0.0: "teacher", 0.5: "tie"}
HEADLINE = ("rougeL_vs_teacher", "rougeL_vs_reference", "teacher_rougeL_vs_reference", "teacher_forced_kl",
            "top1_agreement", "judge_win_rate")


def _figure(svg: str) -> Markup | str:
    """A figure's SVG from matplotlib, marked safe (our own renderer's output, text escaped by it)."""
    return Markup(svg) if svg.startswith("<svg") else svg


def _varying(trials: list[dict]) -> list[str]:
    """The knobs whose values differ between trials: the only ones worth a column."""
    keys = sorted({k for t in trials for k in t.get("params", {})})
    return [k for k in keys if len({json.dumps(t.get("params", {}).get(k), sort_keys=True) for t in trials}) > 1]


def _sweep(trials: list[dict] | None) -> dict | None:
    if not trials:
        return None
    metrics = sorted({m for t in trials for m in t.get("metrics", {})})
    knobs = _varying(trials)
    return {"metrics": metrics, "knobs": knobs, "trials": [
        {"name": str(t.get("trial")), "best": bool(t.get("best")),
         "knobs": [json.dumps(t.get("params", {}).get(k)) for k in knobs],
         "scores": [_trial_cell(t, m).replace("\n", " ") for m in metrics]} for t in trials]}


def _trust(summary: RunSummary) -> dict:
    """The box at the top: what the figures rest on, the headline metrics with their CIs, every warning."""
    headline = []
    for name in HEADLINE:
        e = summary.estimates.get(name)
        if e and e.get("ci_low") is not None:
            headline.append([name, f"{_short(e['value'])} [{_short(e['ci_low'])}, {_short(e['ci_high'])}]",
                             str(e["n"])])
    return {"lines": trust_lines(summary), "selection": (summary.selection or {}).get("reason"),
            "headline": headline, "warnings": [[str(w.get("code")), str(w.get("message"))] for w in summary.warnings]}


def _metrics(summary: RunSummary) -> list[list[str]]:
    """Rows of group, metric, value, 95% CI, n."""
    rows = []
    for group, members in grouped(summary.metrics).items():
        for name, value in members.items():
            e = summary.estimates.get(name)
            ci = f"[{_short(e['ci_low'])}, {_short(e['ci_high'])}]" if e and e.get("ci_low") is not None else ""
            rows.append([group, name, _fmt(value), ci, n_of(summary, name)])
    return rows


def _registration(reg: dict) -> dict | None:
    if not reg:
        return None
    return {"name": str(reg.get("name")), "version": str(reg.get("version")), "aliases": str(reg.get("aliases")),
            "decision": str(reg["decision"]) if reg.get("decision") else None,
            "previous_champion": str(reg["previous_champion"]) if reg.get("previous_champion") else None,
            "reason": str(reg.get("reason", ""))}


def _born_again(generations: list[dict]) -> list[list[str]]:
    """Rows of generation, version, metrics."""
    return [[str(g.get("generation")), str(g.get("version", "")),
             ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(g.get("metrics", {}).items()))]
            for g in sorted(generations, key=lambda g: g.get("generation", 0))]


def _judge(pairs: list[dict] | None) -> list[list[str]]:
    """Rows of prompt (first 120 characters), P(student better) with the student as A and as B, verdict."""
    return [[p["prompt"][:120], f"{p['p_student_as_a']:.3f}", f"{p['p_student_as_b']:.3f}", _VERDICTS[p["outcome"]]]
            for p in pairs or []]


def _samples(samples: list[dict]) -> list[list[str]]:
    """Rows of prompt, reference, teacher, student for the first 20 samples."""
    return [[str(s.get("prompt", "")), str(s.get("reference") or ""), str(s.get("teacher", "")), str(s.get("student", ""))]
            for s in samples[:20]]


def render_html(summary: RunSummary) -> str:
    """The whole report as one HTML string."""
    figures = {
        "sweep": sweep_figure(summary.sweep_results),
        "training": training_figure(summary.sweep_results, summary.loss_history),
        "quality": quality_figure(summary.estimates, summary.split),
        "efficiency": efficiency_figure(summary.details.get("latency")),
        "exposure_bias": exposure_figure(summary.details.get("exposure_bias")),
    }
    if summary.born_again:
        figures["born_again"] = born_again_figure(summary.born_again)
    return render(
        "report.html.j2",
        run_name=summary.run_name,
        status=summary.status,
        mlflow_run_id=summary.mlflow_run_id or "unknown",
        tracking_uri=summary.tracking_uri or "unknown",
        registration=_registration(summary.registration),
        data_quality=[[str(k), str(v)] for k, v in summary.data_quality.items()],
        figures={name: _figure(uri) for name, uri in figures.items()},
        sweep=_sweep(summary.sweep_results),
        metrics=_metrics(summary),
        split=summary.split,
        trust=_trust(summary),
        born_again=_born_again(summary.born_again or []),
        judge=_judge(summary.details.get("judge")),
        samples=_samples(summary.samples),
    )


def write_html_report(summary: RunSummary, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_html(summary))
    tmp.replace(path)  # a reader never sees half a report
    return path


def log_to_mlflow(client, run_id: str, page: str, name: str = "report.html") -> None:
    client.log_text(run_id, page, f"{REPORT_ARTIFACT}/{name}")


def write_report(summary: RunSummary, report_dir: Path) -> Path:
    """Write `<report_dir>/<run>.html` and log it to the run's MLflow run (when there is one)."""
    from mlflow.tracking import MlflowClient

    path = write_html_report(summary, report_dir / f"{summary.run_name}.html")
    if summary.mlflow_run_id:
        log_to_mlflow(MlflowClient(summary.tracking_uri), summary.mlflow_run_id, render_html(summary))
    return path
