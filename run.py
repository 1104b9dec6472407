"""FastDistill command line.

    python run.py                                  # the quickstart (configs/quickstart.yaml)
    python run.py distill --config configs/tiny.yaml --no-cache
    python run.py distill --config my.yaml --dry-run   # validate only
    python run.py stack                            # create/show the local ZenML + MLflow stack
    python run.py evaluate --model models:/fastdistill-student@champion --data my.jsonl --output metrics.json
    python run.py report RUN                       # regenerate a run's HTML report
    python run.py promote 3 --reason "better on the new eval set"
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
    from fastdistill.report import print_summary
    from fastdistill.stack import ensure_local_stack

    local = ensure_local_stack(ROOT, tracking_uri)
    resolved = _write_resolved_config(config_path, document, params, no_cache)
    from pipelines import distill as distill_pipeline

    try:
        run = distill_pipeline.with_options(config_path=str(resolved))()
    except Exception as err:  # ZenML already logged the trace; repeat the failing step's own message
        _fail(f"{config_path}: the run failed: {_failure_details() or f'{type(err).__name__}: {err}'}", code=1)
    summary = _collect_summary(run, local.tracking_uri)
    report = _write_report(summary, report_dir)
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


@cli.command()
@click.option("--model", "model_uri", required=True,
              help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/student, or a local model directory.")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path),
              help="JSONL file: one object per line with `prompt` and optional `reference`.")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Write the metrics (all groups, curves, judge verdicts, samples) here as JSON.")
@click.option("--teacher", "teacher_spec", default=None,
              help="Teacher to compare with (default: the teacher recorded with the model, else the config's).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=QUICKSTART, show_default=True,
              help="Run YAML whose `evaluation:` and `teacher:` sections set the evaluation.")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None,
              help="MLflow tracking URI for models:/ and runs:/ (default: the project's SQLite store).")
def evaluate(model_uri: str, data_path: Path, output: Path | None, teacher_spec: str | None, config_path: Path,
             tracking_uri: str | None) -> None:
    """Evaluate a model on a JSONL file with the full metric suite.

    The teacher answers every prompt (top-k logprobs) and the model is
    compared with it: quality, fidelity, calibration, diversity, exposure
    bias, judge, efficiency and speculative decoding."""
    from fastdistill.config import ConfigError, load_run_config
    from fastdistill.models import ModelSpecError, VocabularyMismatchError

    try:
        _, params = load_run_config(config_path)
    except ConfigError as err:
        _fail(str(err))
    import mlflow

    from fastdistill.model_eval import InputError, evaluate_file, write_json
    from fastdistill.report import print_summary, RunSummary
    from fastdistill.stack import default_tracking_uri

    mlflow.set_tracking_uri(tracking_uri or default_tracking_uri(ROOT))
    try:
        document, result = evaluate_file(model_uri, data_path, params.teacher, params.evaluation, teacher_spec)
    except (InputError, ModelSpecError, VocabularyMismatchError) as err:
        _fail(str(err))
    if output is not None:
        write_json(document, output)
    print_summary(RunSummary(f"evaluate {model_uri}", f"teacher {document['teacher']}", result.metrics), None, console)
    if output is not None:
        console.print(f"metrics written to {output}", soft_wrap=True)


@cli.command()
@click.argument("run")
@click.option("--report-dir", type=click.Path(path_type=Path), default=ROOT / "reports", show_default=True)
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI.")
def report(run: str, report_dir: Path, tracking_uri: str | None) -> None:
    """Regenerate the HTML report of a pipeline run (its name, id or id prefix) and log it to MLflow again."""
    from fastdistill.stack import ensure_local_stack

    local = ensure_local_stack(ROOT, tracking_uri)
    from zenml.client import Client

    try:
        found = Client().get_pipeline_run(run)
    except KeyError:
        recent = [r.name for r in Client().list_pipeline_runs(sort_by="desc:created", size=5).items]
        _fail(f"no pipeline run '{run}'; recent runs: {recent or 'none'}")
    summary = _collect_summary(found, local.tracking_uri)
    path = _write_report(summary, report_dir)
    console.print(f"report: {path}", soft_wrap=True)


@cli.command()
@click.argument("version")
@click.option("--reason", required=True, help="Why this version becomes the champion (recorded as a tag).")
@click.option("--model-name", default="fastdistill-student", show_default=True)
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI.")
def promote(version: str, reason: str, model_name: str, tracking_uri: str | None) -> None:
    """Make VERSION the champion by hand; the old champion becomes previous-champion.

    Records who and why as version tags, moves the ZenML model version to
    `production`, and is idempotent."""
    from fastdistill.stack import ensure_local_stack

    local = ensure_local_stack(ROOT, tracking_uri)
    import mlflow

    from fastdistill import registry
    from fastdistill.model_stage import sync_zenml_stage

    mlflow.set_tracking_uri(local.tracking_uri)
    try:
        result = registry.promote(model_name, version, reason=reason, stage_sync=sync_zenml_stage)
    except registry.RegistryUnreachable as err:
        _fail(str(err), code=1)
    except ValueError as err:
        _fail(str(err))
    console.print(f"{model_name} v{result.version}: {result.reason} (aliases {result.aliases}"
                  + (f", previous champion v{result.previous_champion})" if result.previous_champion else ")"))


def _write_report(summary, report_dir: Path) -> Path:
    """Write `<report_dir>/<run>.html` and log it to the run's MLflow run (when there is one)."""
    from mlflow.tracking import MlflowClient

    from fastdistill.report import log_to_mlflow, render_html, write_html_report

    path = write_html_report(summary, report_dir / f"{summary.run_name}.html")
    if summary.mlflow_run_id:
        log_to_mlflow(MlflowClient(summary.tracking_uri), summary.mlflow_run_id, render_html(summary))
    return path


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
    """Metrics, registration, sweep, Born-Again generations, curves and losses of a run, from ZenML and MLflow."""
    from mlflow.tracking import MlflowClient
    from zenml.client import Client

    from fastdistill.report import RunSummary, read_mlflow_parts

    run = Client().get_pipeline_run(run.id)

    def output(name: str):
        """The artifact `name` produced by any step of the run (None if no step produced it)."""
        for step in run.steps.values():
            if name in step.outputs:
                return step.outputs[name][0].load()
        return None

    summary = RunSummary(run.name, str(run.status.value), output("eval_metrics") or {}, output("registration") or {},
                         output("eval_samples") or [], tracking_uri=tracking_uri,
                         sweep_results=output("sweep_results"), born_again=output("born_again"))
    client = MlflowClient(tracking_uri)
    found = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], f"tags.mlflow.runName = '{run.name}'", max_results=1
    )
    if found:
        summary.mlflow_run_id = found[0].info.run_id
        summary.details, summary.loss_history = read_mlflow_parts(client, summary.mlflow_run_id)
    return summary


if __name__ == "__main__":
    cli()
