"""FastDistill command line.

    python run.py                                  # the quickstart (configs/quickstart.yaml)
    python run.py distill --config configs/tiny.yaml --no-cache
    python run.py distill --config my.yaml --dry-run   # validate only
    python run.py stack                            # create/show the local ZenML + MLflow stack
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

# Before ZenML, MLflow or transformers are imported: no telemetry, no hub calls.
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import click
import yaml
from rich.console import Console

ROOT = Path(__file__).resolve().parent
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
console = Console()


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


@click.group(invoke_without_command=True)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """FastDistill: distil a large teacher LLM into a small, fast student.

    With no command, runs the quickstart: the packaged SmolLM2-135M-Instruct
    teacher distilled into a 20-layer student on the local ZenML stack, with
    MLflow tracking and registry under .fastdistill/ in this directory.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(distill, config_path=QUICKSTART)


@cli.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=QUICKSTART, show_default=True,
              help="Run YAML: ZenML keys (model, settings, steps) plus FastDistill's `parameters:` sections.")
@click.option("--no-cache", is_flag=True, help="Re-run every step instead of reusing cached outputs.")
@click.option("--dry-run", is_flag=True, help="Validate the config and print the resolved parameters, then exit.")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None,
              help="MLflow tracking URI (default: a SQLite store under .fastdistill/mlflow). Env: MLFLOW_TRACKING_URI.")
@click.option("--report-dir", type=click.Path(path_type=Path), default=ROOT / "reports", show_default=True,
              help="Where the run's HTML report is written.")
def distill(config_path: Path, no_cache: bool = False, dry_run: bool = False,
            tracking_uri: str | None = None, report_dir: Path = ROOT / "reports") -> None:
    """Run the distill pipeline on a config.

    Stages: seeds, synthesis, quality gate, teacher inference, training,
    evaluation, registry.

    Sections under `parameters:`: data, synthesis, gate, teacher, student,
    training, evaluation, registry. Unknown keys, wrong types, a missing seeds
    file or an unknown model spec stop the run before any step starts.
    """
    from fastdistill.config import ConfigError, load_run_config

    try:
        document, params = load_run_config(config_path)
    except ConfigError as err:
        _fail(str(err))
    if dry_run:
        console.print(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False))
        console.print(f"[green]{config_path}: valid[/]")
        return
    from fastdistill.report import print_summary, write_html_report
    from fastdistill.stack import ensure_local_stack

    local = ensure_local_stack(ROOT, tracking_uri)
    resolved = _write_resolved_config(config_path, document, params, no_cache)
    from pipelines import distill as distill_pipeline

    try:
        run = distill_pipeline.with_options(config_path=str(resolved))()
    except Exception as err:  # ZenML already logged the trace; repeat the failing step's own message
        _fail(f"{config_path}: the run failed: {_failure_details() or f'{type(err).__name__}: {err}'}", code=1)
    summary = _collect_summary(run, local.tracking_uri)
    report = write_html_report(summary, report_dir / f"{summary.run_name}.html")
    print_summary(summary, report, console)


@cli.command()
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI to configure.")
def stack(tracking_uri: str | None) -> None:
    """Create and activate the local ZenML + MLflow stack.

    Idempotent: the local orchestrator and artifact store plus an MLflow
    experiment tracker and model registry (SQLite under .fastdistill/mlflow)."""
    from fastdistill.stack import ensure_local_stack

    info = ensure_local_stack(ROOT, tracking_uri)
    console.print(f"stack [bold]{info.stack_name}[/] active: tracker {info.tracker_name}, "
                  f"registry {info.registry_name}, MLflow at {info.tracking_uri}")


def _write_resolved_config(config_path: Path, document: dict, params, no_cache: bool) -> Path:
    """The YAML ZenML runs: the user's file with `parameters:` replaced by the validated, filled-in values."""
    resolved = {**document, "parameters": params.model_dump(mode="json")}
    if no_cache:
        resolved["enable_cache"] = False
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = ROOT / ".fastdistill" / "runs" / f"{stamp}-{config_path.stem}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(resolved, sort_keys=False))
    return out


def _failure_details() -> str:
    """The failed steps of the latest `distill` run, each with its exception message."""
    from zenml.client import Client

    try:
        run = Client().get_pipeline("distill").last_run
    except Exception:  # no run was even created: the caller's message is all there is
        return ""
    failed = [s for s in run.steps.values() if s.status.value == "failed"]
    return "\n".join(
        f"step {s.name} failed: {s.exception_info.message if s.exception_info else 'see the log above'}" for s in failed
    )


def _collect_summary(run, tracking_uri: str):
    """Metrics, registration and loss curves of a finished run, read back from ZenML and MLflow."""
    from mlflow.tracking import MlflowClient
    from zenml.client import Client

    from fastdistill.report import RunSummary

    run = Client().get_pipeline_run(run.id)

    def output(step: str, name: str):
        return run.steps[step].outputs[name][0].load() if step in run.steps else None

    summary = RunSummary(run.name, str(run.status.value), output("evaluate", "eval_metrics") or {},
                         output("register_student", "registration") or {}, output("evaluate", "eval_samples") or [],
                         tracking_uri=tracking_uri)
    gate = output("quality_gate", "gate_report")
    if gate is not None:
        summary.data_quality = {**gate.counts, **gate.reasons}
    client = MlflowClient(tracking_uri)
    found = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], f"tags.mlflow.runName = '{run.name}'", max_results=1
    )
    if found:
        summary.mlflow_run_id = found[0].info.run_id
        for key in ("train/loss", "train/ce_loss", "train/kd_loss"):
            history = client.get_metric_history(summary.mlflow_run_id, key)
            summary.loss_history[key] = [(m.step, m.value) for m in history]
    return summary


if __name__ == "__main__":
    cli()
