"""End-of-run summary: a terminal table and a self-contained HTML report."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table


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


def print_summary(summary: RunSummary, report_path: Path | None, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"FastDistill run {summary.run_name}: {summary.status}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in sorted(summary.metrics.items()):
        table.add_row(name, f"{value:.4f}")
    console.print(table)
    reg = summary.registration
    if reg:
        console.print(f"registered [bold]{reg['name']}[/] version {reg['version']} aliases {reg['aliases']}")
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


def _loss_plot(history: dict[str, list[tuple[int, float]]]) -> str:
    """A PNG of the training curves as a data URI ('' when there is nothing to plot)."""
    if not history:
        return ""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, points in sorted(history.items()):
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("training losses")
    ax.legend()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def write_html_report(summary: RunSummary, path: Path) -> Path:
    esc = html.escape
    metric_rows = "".join(f"<tr><td>{esc(k)}</td><td>{v:.4f}</td></tr>" for k, v in sorted(summary.metrics.items()))
    sample_rows = "".join(
        f"<tr><td>{esc(str(s.get('prompt', '')))}</td><td>{esc(str(s.get('reference') or ''))}</td>"
        f"<td>{esc(str(s.get('teacher', '')))}</td><td>{esc(str(s.get('student', '')))}</td></tr>"
        for s in summary.samples[:20]
    )
    quality_rows = "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in summary.data_quality.items())
    plot = _loss_plot(summary.loss_history)
    reg = summary.registration
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>FastDistill {esc(summary.run_name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}</style></head><body>
<h1>FastDistill run {esc(summary.run_name)}</h1><p>Status: <b>{esc(summary.status)}</b>.
MLflow run {esc(summary.mlflow_run_id)} at {esc(summary.tracking_uri)}.</p>
<h2>Registry</h2><p>{esc(f"{reg.get('name')} v{reg.get('version')} {reg.get('aliases')}: {reg.get('reason')}") if reg else "not registered"}</p>
<h2>Evaluation (held-out split)</h2><table><tr><th>metric</th><th>value</th></tr>{metric_rows}</table>
<h2>Data quality gate</h2><table><tr><th>count</th><th>rows</th></tr>{quality_rows or "<tr><td>not recorded</td><td></td></tr>"}</table>
<h2>Training</h2>{f'<img src="{plot}" alt="training losses">' if plot else "<p>no training history</p>"}
<h2>Samples</h2><table><tr><th>prompt</th><th>reference</th><th>teacher</th><th>student</th></tr>{sample_rows}</table>
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
