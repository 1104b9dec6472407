"""One self-contained HTML report per run.

The report embeds its figures as base64 PNGs (`fastdistill.reporting.figures`),
so the file opens anywhere with no network and no side files: sweep
comparison, training curves, teacher vs student efficiency, the
exposure-bias curve and Born-Again generations when present, plus the metric
table grouped as in the metric catalog, the registry decision, judge
verdicts and samples. Every figure is an `<img data-figure=NAME>`; a small
inline script marks on the body how many of them the browser decoded (the
headless-browser test reads it).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from fastdistill.evaluation.catalog import grouped
from fastdistill.reporting.figures import (
    born_again_figure,
    efficiency_figure,
    exposure_figure,
    sweep_figure,
    training_figure,
)
from fastdistill.reporting.summary import REPORT_ARTIFACT, RunSummary, _fmt

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




def log_to_mlflow(client, run_id: str, page: str, name: str = "report.html") -> None:
    client.log_text(run_id, page, f"{REPORT_ARTIFACT}/{name}")
