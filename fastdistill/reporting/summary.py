"""What a run produced, in one `RunSummary`, and the terminal table printed at its end.

The pipeline's `build_report` step makes the summary and returns it as its
`run_summary` artifact; `summary_of_run` reads it back from a run, so the
terminal table, the HTML report (`fastdistill.reporting.html`) and `run.py
report RUN` all show the same thing. The evaluation details and loss curves
come from the run's MLflow artifacts (`read_mlflow_parts`).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fastdistill.evaluation.catalog import grouped
from fastdistill.evaluation.scores import Scores
from fastdistill.infra.runs import failure_details

DETAILS_ARTIFACT = "evaluation/details.json"
SCORES_ARTIFACT = "evaluation/scores.json"  # the EvalMetrics (per-example scores): the registry reads a champion's
REPORT_ARTIFACT = "report"
LOSS_KEYS = ("loss", "ce_loss", "kd_loss")
REPORT_STEP, SUMMARY_OUTPUT = "build_report", "run_summary"  # the step of both pipelines that makes the summary


class RunSummary(BaseModel):
    """Everything the terminal table and the HTML report show about a run (the `run_summary` artifact).

    The parts are plain JSON (the dumps of the typed step outputs: `Registration`, `TrialResult`,
    `GenerationRow`, `Sample`), which is what the report renders.
    """

    run_name: str
    status: str
    metrics: dict[str, float] = Field(default_factory=dict)
    registration: dict = Field(default_factory=dict)
    samples: list[dict] = Field(default_factory=list)
    loss_history: dict[str, list[tuple[int, float]]] = Field(default_factory=dict)
    tracking_uri: str = ""
    mlflow_run_id: str = ""
    data_quality: dict[str, int] = Field(default_factory=dict)  # gate counts and rejected rows per reason
    sweep_results: list[dict] | None = None  # one dict per trial: trial, params, metrics, history, mlflow_run_id, best
    born_again: list[dict] | None = None  # one dict per generation: generation, metrics, version
    details: dict = Field(default_factory=dict)  # evaluation curves: exposure_bias, latency, judge
    split: str = "test"  # the split `metrics` were measured on
    estimates: dict[str, dict] = Field(default_factory=dict)  # per-example metrics: {value, n, ci_low, ci_high}
    warnings: list[dict] = Field(default_factory=list)  # health checks that fired: {code, message}
    selection: dict | None = None  # the sweep's choice on the validation split (`training.selection.Selection`)
    splits: dict[str, int] = Field(default_factory=dict)  # rows per split after the gate: train, validation, test

    def __init__(self, run_name: str | None = None, status: str | None = None, metrics: dict | None = None,
                 **data: Any) -> None:
        """The three fields every summary has may be given by position: `RunSummary(name, status, metrics)`."""
        given = {"run_name": run_name, "status": status, "metrics": metrics}
        super().__init__(**{k: v for k, v in given.items() if v is not None}, **data)


class MissingSummary(LookupError):
    """A run without a `run_summary`: it did not get as far as its report step (or predates it)."""


def gate_counts(gate_report) -> dict[str, int]:
    """The gate's counts and rejected rows per reason, as the summary shows them."""
    return {**gate_report.counts, **gate_report.reasons}


def summary_of_run(run, tracking_uri: str | None = None) -> RunSummary:
    """The `run_summary` output of the run's `build_report` step, with the run's current status.

    `tracking_uri` replaces the one the step recorded (the CLI's view of the same MLflow store).
    Raises `MissingSummary` naming the steps that failed when the run has no summary.
    """
    step = run.steps.get(REPORT_STEP)
    if step is None or SUMMARY_OUTPUT not in step.outputs:
        failures = failure_details(run)
        reason = f": {failures}" if failures else (
            f" (status {run.status.value}; a run made before {REPORT_STEP} returned {SUMMARY_OUTPUT} has none)")
        raise MissingSummary(f"run {run.name} has no {SUMMARY_OUTPUT} from step {REPORT_STEP}{reason}")
    summary: RunSummary = step.outputs[SUMMARY_OUTPUT][0].load()
    update: dict[str, Any] = {"status": str(run.status.value)}
    if tracking_uri:
        update["tracking_uri"] = tracking_uri
    return summary.model_copy(update=update)


def print_summary(summary: RunSummary, report_path: Path | None, console: Console | None = None) -> None:
    """The end-of-run print: how far to trust it, the metrics with their CIs, the sweep, the registry decision."""
    console = console or Console()
    for line in trust_lines(summary):
        console.print(line, markup=False, soft_wrap=True)
    for warning in summary.warnings:
        console.print(Text(f"WARNING {warning['code']}: {warning['message']}", style="bold red"), soft_wrap=True)
    console.print(metrics_table(summary))
    if summary.sweep_results and len(summary.sweep_results) > 1:
        console.print(sweep_table(summary.sweep_results))
    if summary.selection:
        if any(len(c["seed_values"]) > 1 for c in summary.selection["configs"]):
            console.print(seeds_table(summary.selection))
        console.print(f"selection: {summary.selection['reason']}", markup=False, soft_wrap=True)
    reg = summary.registration
    if reg:
        console.print(f"registered {reg['name']} version {reg['version']} aliases {reg['aliases']}"
                      + (f" ({reg['decision']})" if reg.get("decision") else ""), markup=False)
        console.print(f"  {reg['reason']}", markup=False, soft_wrap=True)
        console.print(f"  load it: mlflow.transformers.load_model('{reg['model_uri']}')", markup=False)
    if summary.data_quality:
        console.print("data: " + ", ".join(f"{k} {v}" for k, v in summary.data_quality.items()), markup=False,
                      soft_wrap=True)
    console.print("where to look:")
    if summary.tracking_uri:
        console.print(f"  MLflow UI:       mlflow ui --backend-store-uri {summary.tracking_uri}", soft_wrap=True,
                      markup=False)
    console.print("  ZenML dashboard: zenml login --local")
    if report_path:
        console.print(f"  report:          {report_path}", soft_wrap=True, markup=False)


def trust_lines(summary: RunSummary) -> list[str]:
    """What the figures below rest on: the split sizes, and where each figure comes from."""
    lines = []
    if summary.splits:
        lines.append("splits: " + ", ".join(f"{split} {n}" for split, n in summary.splits.items())
                     + " (the sweep selects on validation; evaluation and the registry gate use test only)")
    examples = summary.metrics.get("eval_examples")
    n = f"{examples:.0f} examples" if examples is not None else "its examples"
    lines.append(f"metrics: {summary.split} split, {n}; per-example metrics with a 95% bootstrap CI")
    return lines


def metrics_table(summary: RunSummary) -> Table:
    """One row per metric, by group: the value with its 95% CI and n (aggregates: the value alone)."""
    table = Table(title=f"FastDistill run {summary.run_name}: {summary.status} ({summary.split} split)")
    for column in ("group", "metric"):
        table.add_column(column)
    table.add_column("value [95% CI]", justify="right")
    table.add_column("n", justify="right")
    for group, members in grouped(summary.metrics).items():
        for name, value in members.items():
            estimate = summary.estimates.get(name)
            if estimate and estimate.get("ci_low") is not None:
                shown = f"{_short(value)} [{_short(estimate['ci_low'])}, {_short(estimate['ci_high'])}]"
            else:
                shown = _fmt(value)
            table.add_row(group, name, shown, n_of(summary, name))
    return table


def n_of(summary: RunSummary, name: str) -> str:
    """How many examples (or, for speed figures, prompts) a metric comes from; blank for a whole-set statistic."""
    if name in summary.estimates:
        return str(summary.estimates[name]["n"])
    if ("latency" in name or "tokens_per_s" in name or name.startswith("spec_")) and "speed_prompts" in summary.metrics:
        return f"{summary.metrics['speed_prompts']:.0f}"
    return ""


def sweep_table(results: list[dict]) -> Table:
    """The trials side by side on their validation scores (value over its 95% CI), the chosen one marked.

    One row per metric and one column per trial: metric names are long and trials few, so this way round
    the table fits an 80-column terminal without cutting a name.
    """
    names = sorted({k for r in results for k in r.get("metrics", {})})
    split, n = _scored_on(results)
    table = Table(title=f"training sweep: {split} split, n={n}, 95% CI", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False)
    table.add_column("metric", no_wrap=True)
    for r in results:
        table.add_column(f"{r['trial']} (chosen)" if r.get("best") else r["trial"], justify="right")
    for name in names:
        table.add_row(name, *(_trial_cell(r, name) for r in results))
    table.add_row("train seconds", *(f"{float(r.get('seconds', 0.0)):.0f}" for r in results))
    return table


def seeds_table(selection: dict) -> Table:
    """Each configuration over its seeds: the mean used for selection, and the seed-to-seed spread."""
    table = Table(title=f"seeds: {selection['split']}, {selection['metric']}")
    for column in ("config", "mean [95% CI]", "n", "per seed", "seed sd"):
        table.add_column(column, justify="left" if column == "config" else "right")
    for c in selection["configs"]:
        e, seeds = c["estimate"], c["seed_values"]
        sd = statistics.stdev(seeds) if len(seeds) > 1 else 0.0
        interval = f" [{_short(e['ci_low'])}, {_short(e['ci_high'])}]" if e.get("ci_low") is not None else ""
        table.add_row(c["config"], f"{_short(e['value'])}{interval}", str(e["n"]),
                      " ".join(_short(v) for v in seeds), _short(sd))
    return table


def _scored_on(results: list[dict]) -> tuple[str, int]:
    scores = results[0].get("scores") or {}
    return scores.get("split", "validation"), len(scores.get("ids", []))


def _trial_cell(result: dict, name: str) -> str:
    if name not in result.get("metrics", {}):
        return "-"
    value = result["metrics"][name]
    scores = result.get("scores") or {}
    if name not in scores.get("per_example", {}):
        return _fmt(value)
    estimate = Scores.model_validate(scores).estimate(name)
    if not estimate.has_ci:
        return _short(value)
    return f"{_short(value)}\n[{_short(estimate.ci_low)}, {_short(estimate.ci_high)}]"


def _short(value: float) -> str:
    """Two decimals (three below 0.1): the CIs on tens of examples are wider than the fourth decimal."""
    return f"{value:.3f}" if abs(value) < 0.1 and value != 0 else f"{value:.2f}"


def _fmt(value: float) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return str(value)
    if abs(value) >= 1e5:
        return f"{value:,.0f}"
    return f"{value:.4f}"


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
