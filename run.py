"""FastDistill command line.

    python run.py                                  # the quickstart (configs/quickstart.yaml)
    python run.py distill --config configs/tiny.yaml --no-cache
    python run.py distill --config my.yaml --dry-run   # validate only
    python run.py stack                            # create/show the local ZenML + MLflow stack
    python run.py stack k8s --outputs outputs.json # register the Kubernetes stack from Terraform outputs
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
BORN_AGAIN = ROOT / "configs" / "born_again.yaml"
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

    Stages: seeds, synthesis, quality gate, teacher inference, training
    (one step per sweep trial), best-trial selection, evaluation, registry.

    Sections under `parameters:`: data, synthesis, gate, teacher, student,
    training, sweep, evaluation, registry. Unknown keys, wrong types, a missing seeds
    file or an unknown model spec stop the run before any step starts.
    """
    from fastdistill.run_config import ConfigError

    document, params = _load(config_path)
    try:
        document = _checked_placement(config_path, document, params)
    except ConfigError as err:
        _fail(str(err))
    if dry_run:
        _print_dry_run(config_path, document, params)
        return
    from fastdistill.infra.local_stack import ensure_local_stack
    from fastdistill.reporting.summary import print_summary

    local = ensure_local_stack(ROOT, tracking_uri)
    from pipelines import distill as distill_pipeline

    run = _run_pipeline(distill_pipeline, config_path, document, params, no_cache)
    summary = _collect_summary(run, local.tracking_uri)
    report = _write_report(summary, report_dir)
    print_summary(summary, report, console)


def _print_dry_run(config_path: Path, document: dict, params, pipeline=None) -> None:
    console.print(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False))
    if _uses_kubernetes(document):
        try:
            _print_placement(document, params, pipeline)
        except ValueError as err:  # PlacementError or the kubernetes models refusing a manifest
            _fail(f"{config_path}: the Kubernetes manifests would be invalid: {err}")
    console.print(f"[green]{config_path}: valid[/]")


def _load(config_path: Path):
    from fastdistill.run_config import ConfigError, load_run_config

    try:
        return load_run_config(config_path)
    except ConfigError as err:
        _fail(str(err))


def _run_pipeline(pipeline, config_path: Path, document: dict, params, no_cache: bool, schedule=None):
    resolved = _write_resolved_config(config_path, document, params, no_cache, _parameter_names(pipeline))
    options = {"config_path": str(resolved)} | ({"schedule": schedule} if schedule is not None else {})
    try:
        return pipeline.with_options(**options)()
    except Exception as err:  # ZenML already logged the trace; repeat the failing step's own message
        _fail(f"{config_path}: the run failed: {_failure_details(pipeline.name) or f'{type(err).__name__}: {err}'}", code=1)


def _parameter_names(pipeline) -> set[str]:
    import inspect

    return set(inspect.signature(pipeline.entrypoint).parameters)


@cli.command("born-again")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=BORN_AGAIN, show_default=True,
              help="Run YAML with a `born_again:` section (chain_id, generations, metric, min_improvement).")
@click.option("--generations", type=click.IntRange(min=1), default=None,
              help="Run at most this many generations now (default: until the chain's limit or stop rule).")
@click.option("--no-cache", is_flag=True, help="Re-run every step instead of reusing cached outputs.")
@click.option("--dry-run", is_flag=True, help="Validate the config (and print the Kubernetes placement), then exit.")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI.")
@click.option("--report-dir", type=click.Path(path_type=Path), default=ROOT / "reports", show_default=True,
              help="Where each generation's HTML report (with the chain's plot) is written.")
def born_again_command(config_path: Path, generations: int | None, no_cache: bool, dry_run: bool,
                       tracking_uri: str | None, report_dir: Path = ROOT / "reports") -> None:
    """Run a Born-Again chain's generations one after another.

    Generation k learns from the chain's champion (generation 1: the
    configured teacher), trains a fresh student, and is registered in
    `<registry.model_name>-<chain_id>` with lineage tags. The chain's state is
    the registry: after a crash the same command continues with the first
    generation that was not registered. It stops at `born_again.generations`
    or at the first generation that does not beat its teacher.
    """
    from pipelines import born_again as born_again_pipeline

    document, params = _load_chain(config_path, born_again_pipeline)
    if dry_run:
        _print_dry_run(config_path, document, params, born_again_pipeline)
        return
    from fastdistill.infra.local_stack import ensure_local_stack
    from fastdistill.registry import born_again

    local = ensure_local_stack(ROOT, tracking_uri)
    chain, name = params.born_again, born_again.chain_model_name(params.registry.model_name, params.born_again)
    for _ in range(generations or params.born_again.generations):
        plan = born_again.plan_next(_chain(local.tracking_uri, name, chain), chain, name, params.teacher.model)
        if isinstance(plan, born_again.Finished):
            console.print(f"chain [bold]{chain.chain_id}[/]: {plan.reason}")
            break
        console.print(f"chain [bold]{chain.chain_id}[/]: generation {plan.generation} learns from {plan.teacher}")
        run = _run_pipeline(born_again_pipeline, config_path, document, params, no_cache)
        report = _write_report(_collect_summary(run, local.tracking_uri), report_dir)
        console.print(f"generation {plan.generation} report: {report}")
    _print_chain(_chain(local.tracking_uri, name, chain), chain, name)


def _load_chain(config_path: Path, pipeline):
    """A chain's config, validated like distill's, its Kubernetes placement checked against the born_again pipeline."""
    from fastdistill.registry.born_again import check_run_document
    from fastdistill.run_config import ConfigError

    document, params = _load(config_path)
    try:
        check_run_document(document, str(config_path))
        document = _checked_placement(config_path, document, params, pipeline)
    except (ValueError, ConfigError) as err:
        _fail(str(err))
    return document, params


def _chain(tracking_uri: str, name: str, chain):
    from mlflow.tracking import MlflowClient

    from fastdistill.registry import born_again

    return born_again.read_chain(MlflowClient(tracking_uri), name, chain)


def _print_chain(generations, chain, name: str) -> None:
    from rich.table import Table

    table = Table(title=f"Born-Again chain {chain.chain_id} ({name}), metric {chain.metric}")
    for column in ("generation", "version", "learned from", chain.metric, "improved", "aliases"):
        table.add_column(column, overflow="fold")  # a registry URI is worth reading whole
    for g in generations:
        score = "-" if g.score is None else f"{g.score:.4f}"
        table.add_row(str(g.generation), g.version, g.teacher, score, "yes" if g.improved else "no", ", ".join(g.aliases))
    console.print(table)


@cli.group()
def chain() -> None:
    """Inspect Born-Again chains (their state is the MLflow registry)."""


@chain.command("show")
@click.argument("chain_id")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=BORN_AGAIN, show_default=True,
              help="The chain's run YAML (gives the registry model name and the metric).")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI.")
def chain_show(chain_id: str, config_path: Path, tracking_uri: str | None) -> None:
    """Generations of CHAIN_ID: version, what each learned from, its metric, whether it improved."""
    _, params = _load(config_path)
    from fastdistill.infra.local_stack import ensure_local_stack
    from fastdistill.registry import born_again

    local = ensure_local_stack(ROOT, tracking_uri)
    chain_config = params.born_again.model_copy(update={"chain_id": chain_id})
    name = born_again.chain_model_name(params.registry.model_name, chain_config)
    generations = _chain(local.tracking_uri, name, chain_config)
    if not generations:
        _fail(f"chain '{chain_id}' has no registered generation in {name} at {local.tracking_uri}")
    _print_chain(generations, chain_config, name)


@cli.group(invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=BORN_AGAIN, show_default=True,
              help="The run YAML to schedule (a Born-Again chain: each run is its next generation).")
@click.option("--cron", default=None, help='Cron expression, e.g. "0 3 * * 0" (Sundays 03:00).')
@click.option("--name", default=None, help="Schedule name (default: fastdistill-<chain_id>).")
@click.pass_context
def schedule(ctx: click.Context, config_path: Path, cron: str | None, name: str | None) -> None:
    """Schedule a Born-Again chain on a schedulable stack, or list/pause/delete schedules.

    \b
    run.py schedule --config configs/born_again.yaml --cron "0 3 * * 0"
    run.py schedule list | pause NAME | resume NAME | delete NAME

    On Kubernetes each run becomes a CronJob execution; set
    `settings: orchestrator.kubernetes: concurrency_policy: Forbid` so two
    generations never overlap. The local stack cannot schedule: use
    `run.py born-again --generations N` there.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not cron:
        _fail("schedule needs --cron (or one of: list, pause, resume, delete); see run.py schedule --help")
    from zenml.client import Client
    from zenml.config.schedule import Schedule

    from pipelines import born_again as born_again_pipeline

    document, params = _load_chain(config_path, born_again_pipeline)
    orchestrator = Client().active_stack.orchestrator
    if not orchestrator.config.is_schedulable:
        _fail(f"the active stack's orchestrator '{orchestrator.name}' ({orchestrator.flavor}) cannot run schedules; "
              f"run the chain now with `python run.py born-again --config {config_path} --generations N`, "
              "or activate a Kubernetes stack (python run.py stack k8s ...)")
    name = name or f"fastdistill-{params.born_again.chain_id}"
    _run_pipeline(born_again_pipeline, config_path, document, params, False, Schedule(name=name, cron_expression=cron))
    console.print(f"scheduled [bold]{name}[/] ({cron}) on {orchestrator.name}")


@schedule.command("list")
def schedule_list() -> None:
    """Schedules known to ZenML, with their cron expression and whether they are active."""
    from zenml.client import Client

    for s in Client().list_schedules(size=100):
        console.print(f"{s.name}\t{s.cron_expression}\t{'active' if s.active else 'paused'}")


def _set_schedule(name: str, active: bool) -> None:
    from zenml.client import Client

    try:
        Client().update_schedule(name, active=active)
    except KeyError:
        _fail(f"no schedule named '{name}' (see run.py schedule list)")
    console.print(f"schedule {name} {'resumed' if active else 'paused'}")


@schedule.command("pause")
@click.argument("name")
def schedule_pause(name: str) -> None:
    """Stop NAME from starting new runs (it is kept)."""
    _set_schedule(name, False)


@schedule.command("resume")
@click.argument("name")
def schedule_resume(name: str) -> None:
    """Let a paused schedule NAME start runs again."""
    _set_schedule(name, True)


@schedule.command("delete")
@click.argument("name")
def schedule_delete(name: str) -> None:
    """Delete schedule NAME (on Kubernetes this removes its CronJob)."""
    from zenml.client import Client

    try:
        Client().delete_schedule(name)
    except KeyError:
        _fail(f"no schedule named '{name}' (see run.py schedule list)")
    console.print(f"schedule {name} deleted")


@cli.group(invoke_without_command=True)
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI to configure.")
@click.pass_context
def stack(ctx: click.Context, tracking_uri: str | None) -> None:
    """Create and activate the local ZenML + MLflow stack (or, with `k8s`, the Kubernetes one).

    Idempotent: the local orchestrator and artifact store plus an MLflow
    experiment tracker and model registry (SQLite under .fastdistill/mlflow)."""
    if ctx.invoked_subcommand is not None:
        return
    from fastdistill.infra.local_stack import ensure_local_stack

    info = ensure_local_stack(ROOT, tracking_uri)
    console.print(f"stack [bold]{info.stack_name}[/] active: tracker {info.tracker_name}, "
                  f"registry {info.registry_name}, MLflow at {info.tracking_uri}")


@stack.command("k8s")
@click.option("--outputs", "outputs_path", type=click.Path(path_type=Path), required=True,
              help="JSON from `terraform -chdir=infra/terraform/gke output -json`.")
@click.option("--image-builder", type=click.Choice(["gcp", "local"]), default="gcp", show_default=True,
              help="gcp: Cloud Build; local: the Docker daemon on this machine.")
@click.option("--no-activate", is_flag=True, help="Register without making it the active stack.")
def stack_k8s(outputs_path: Path, image_builder: str, no_activate: bool) -> None:
    """Register the Kubernetes stack from Terraform outputs.

    Kubernetes orchestrator, GCS artifact store, Artifact Registry, image
    builder, MLflow tracker and registry on the cluster's MLflow. MLflow's
    password is read from MLFLOW_TRACKING_PASSWORD into the ZenML secret
    `fastdistill_mlflow`; components only reference it. Idempotent."""
    from fastdistill.infra.k8s_stack import StackOutputsError, register_k8s_stack

    try:
        info = register_k8s_stack(outputs_path, image_builder, activate=not no_activate)
    except (StackOutputsError, RuntimeError) as err:  # RuntimeError: a component of that name with another flavor
        _fail(str(err))
    for kind, name in info.components.items():
        console.print(f"  {kind:<20} {name}")
    state = "registered" if no_activate else "active"
    console.print(f"stack [bold]{info.stack_name}[/] {state}; MLflow at {info.tracking_uri}")
    for warning in info.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def _uses_kubernetes(document: dict) -> bool:
    from fastdistill.infra.k8s import uses_kubernetes

    return uses_kubernetes(document)


def _checked_placement(config_path: Path, document: dict, params, pipeline=None) -> dict:
    """Kubernetes settings checked strictly and `steps:` glob keys expanded; untouched without Kubernetes settings."""
    if not _uses_kubernetes(document) and not any("*" in k for k in document.get("steps") or {}):
        return document
    from fastdistill.infra.k8s import (
        PlacementError,
        check_gpu_sizing,
        check_kubernetes_settings,
        expand_step_patterns,
        invocation_ids,
    )
    from fastdistill.run_config import ConfigError
    from pipelines import distill

    pipeline = pipeline or distill
    try:
        check_kubernetes_settings(document, str(config_path))
        ids = invocation_ids(pipeline, _sections(params, pipeline))
        document = {**document, "steps": expand_step_patterns(document.get("steps") or {}, ids, str(config_path))}
        check_gpu_sizing(document, params, str(config_path))
    except PlacementError as err:
        raise ConfigError(str(err)) from None
    return document


def _sections(params, pipeline=None) -> dict:
    """The validated sections the pipeline takes as parameters (default: `distill`, which has no born_again)."""
    if pipeline is None:
        from pipelines import distill as pipeline
    accepted = _parameter_names(pipeline)
    return {name: getattr(params, name) for name in type(params).model_fields if name in accepted}


def _active_registry_uri() -> str | None:
    """The active stack's container registry (after `stack k8s`), so the dry run names the real image."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    registries = Client().active_stack_model.components.get(StackComponentType.CONTAINER_REGISTRY) or []
    return registries[0].configuration.get("uri") if registries else None


def _print_placement(document: dict, params, pipeline=None) -> None:
    """Where each step's pod would run: the Jobs ZenML's Kubernetes orchestrator would submit, built here."""
    from rich.table import Table

    from fastdistill.infra import k8s
    from pipelines import distill

    pipeline = pipeline or distill
    orchestrator = k8s.dry_run_orchestrator()
    snapshot = k8s.compile_for_kubernetes(pipeline, document, _sections(params, pipeline), orchestrator)
    manifests = k8s.job_manifests(snapshot, orchestrator, _active_registry_uri())
    rows = k8s.placement(manifests)
    images = sorted({row.image for row in rows})
    table = Table(title="Kubernetes placement (dry run: the step Jobs the orchestrator would submit)")
    for column in ("step", "pool", "GPUs", "CPU", "memory", "tolerations") + (("image",) if len(images) > 1 else ()):
        table.add_column(column, overflow="fold")
    for row in rows:
        k8s.validate_job(manifests[row.step], row.step)
        cells = [row.step, row.pool, str(row.gpus), row.cpu, row.memory, ", ".join(row.tolerations) or "-"]
        table.add_row(*cells, *((row.image,) if len(images) > 1 else ()))
    console.print(table)
    docker = (document.get("settings") or {}).get("docker") or {}
    base = docker.get("dockerfile") or docker.get("parent_image") or "ZenML's default image"
    if len(images) == 1:
        console.print(f"image (every step): {images[0]}, built on {base}", highlight=False, soft_wrap=True)


def _write_resolved_config(config_path: Path, document: dict, params, no_cache: bool, accepted: set[str]) -> Path:
    """The YAML ZenML runs: the user's file with `parameters:` replaced by the validated, filled-in values.

    Only the sections the pipeline takes are passed (`distill` has no `born_again:`).
    """
    from fastdistill.training.sweep import expand_trials, with_trial_step_settings

    values = params.model_dump(mode="json")
    resolved = {**document, "parameters": {k: v for k, v in values.items() if k in accepted}}
    trial_ids = [t.step_id for t in expand_trials(params.sweep, params.training, params.student)]
    if document.get("steps"):
        resolved["steps"] = with_trial_step_settings(document["steps"], trial_ids)
    if no_cache:
        resolved["enable_cache"] = False
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = ROOT / ".fastdistill" / "runs" / f"{stamp}-{config_path.stem}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(resolved, sort_keys=False))
    return out


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
    from fastdistill.models import ModelSpecError, VocabularyMismatchError
    from fastdistill.run_config import ConfigError, load_run_config

    try:
        _, params = load_run_config(config_path)
    except ConfigError as err:
        _fail(str(err))
    import mlflow

    from fastdistill.evaluation.evaluate_file import (
        InputError,
        evaluate_file,
        write_json,
    )
    from fastdistill.infra.local_stack import default_tracking_uri
    from fastdistill.reporting.summary import RunSummary, print_summary

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
    from fastdistill.infra.local_stack import ensure_local_stack

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
    from fastdistill.infra.local_stack import ensure_local_stack

    local = ensure_local_stack(ROOT, tracking_uri)
    import mlflow

    from fastdistill.registry import mlflow_registry as registry
    from fastdistill.registry.zenml_stage import sync_zenml_stage

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

    from fastdistill.reporting.html import (
        log_to_mlflow,
        render_html,
        write_html_report,
    )

    path = write_html_report(summary, report_dir / f"{summary.run_name}.html")
    if summary.mlflow_run_id:
        log_to_mlflow(MlflowClient(summary.tracking_uri), summary.mlflow_run_id, render_html(summary))
    return path




def _failure_details(pipeline_name: str = "distill") -> str:
    """The failed steps of the pipeline's latest run, each with its exception message."""
    from zenml.client import Client

    try:
        run = Client().get_pipeline(pipeline_name).last_run
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

    from fastdistill.reporting.summary import RunSummary, read_mlflow_parts

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
    gate = output("gate_report")
    if gate is not None:
        summary.data_quality = {**gate.counts, **gate.reasons}
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
