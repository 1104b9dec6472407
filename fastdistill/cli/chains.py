"""Born-Again chains: `run.py born-again`, `run.py chain show`, `run.py schedule` (list, pause, resume, delete)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from fastdistill.cli.common import (
    check_served,
    load_config,
    local_stack,
    preflight,
    print_dry_run,
    read_config,
    run,
    summary_and_report,
)
from fastdistill.cli.console import console, fail
from fastdistill.cli.paths import BORN_AGAIN, REPORTS, ROOT


def born_again_pipeline():
    from pipelines import born_again

    return born_again


@click.command("born-again")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=BORN_AGAIN, show_default=True,
              help="Run YAML with a `born_again:` section (chain_id, generations, metric, min_improvement).")
@click.option("--generations", type=click.IntRange(min=1), default=None,
              help="Run at most this many generations now (default: until the chain's limit or stop rule).")
@click.option("--no-cache", is_flag=True, help="Re-run every step instead of reusing cached outputs.")
@click.option("--dry-run", is_flag=True, help="Validate the config (and print the Kubernetes placement), then exit.")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI.")
@click.option("--report-dir", type=click.Path(path_type=Path), default=REPORTS, show_default=True,
              help="Where each generation's HTML report (with the chain's plot) is written.")
def born_again_command(config_path: Path, generations: int | None, no_cache: bool, dry_run: bool,
                       tracking_uri: str | None, report_dir: Path = REPORTS) -> None:
    """Run a Born-Again chain's generations one after another.

    Generation k learns from the chain's champion (generation 1: the
    configured teacher), trains a fresh student, and is registered in
    `<registry.model_name>-<chain_id>` with lineage tags. The chain's state is
    the registry: after a crash the same command continues with the first
    generation that was not registered. It stops at `born_again.generations`
    or at the first generation that does not beat its teacher.
    """
    pipeline = born_again_pipeline()
    document, params = load_config(config_path, born_again_pipeline, chain=True)
    preflight(tracking_uri, report_dir)
    check_served(params)  # the configured teacher labels every generation's prompts (original_teacher_inference)
    if dry_run:
        print_dry_run(config_path, document, params, born_again_pipeline)
        return
    from fastdistill.registry import born_again

    local = local_stack(tracking_uri)
    chain, name = params.born_again, born_again.chain_model_name(params.registry.model_name, params.born_again)

    def run_generation(plan: born_again.Plan) -> None:
        console.print(f"chain [bold]{chain.chain_id}[/]: generation {plan.generation} learns from {plan.teacher}")
        finished = run(pipeline, config_path, document, params, no_cache, tracking_uri=local.tracking_uri)
        _, report = summary_and_report(finished, local.tracking_uri, report_dir)
        console.print(f"generation {plan.generation} report: {report}")

    progress = born_again.run_chain(lambda: _generations(local.tracking_uri, name, chain), run_generation, chain, name,
                                    params.teacher.model, generations)
    if progress.finished is not None:
        console.print(f"chain [bold]{chain.chain_id}[/]: {progress.finished.reason}")
    _print_chain(_generations(local.tracking_uri, name, chain), chain, name)


def _generations(tracking_uri: str, name: str, chain):
    from mlflow.tracking import MlflowClient

    from fastdistill.registry.born_again import read_chain

    return read_chain(MlflowClient(tracking_uri), name, chain)


def _print_chain(generations, chain, name: str) -> None:
    from rich.table import Table

    table = Table(title=f"Born-Again chain {chain.chain_id} ({name}), metric {chain.metric}")
    for column in ("generation", "version", "learned from", chain.metric, "improved", "aliases"):
        table.add_column(column, overflow="fold")  # a registry URI is worth reading whole
    for g in generations:
        score = "-" if g.score is None else f"{g.score:.4f}"
        table.add_row(str(g.generation), g.version, g.teacher, score, "yes" if g.improved else "no", ", ".join(g.aliases))
    console.print(table)


@click.group()
def chain() -> None:
    """Inspect Born-Again chains (their state is the MLflow registry)."""


@chain.command("show")
@click.argument("chain_id")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=BORN_AGAIN, show_default=True,
              help="The chain's run YAML (gives the registry model name and the metric).")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI.")
def chain_show(chain_id: str, config_path: Path, tracking_uri: str | None) -> None:
    """Generations of CHAIN_ID: version, what each learned from, its metric, whether it improved."""
    _, params = read_config(config_path)
    from fastdistill.infra.local_stack import ensure_local_stack
    from fastdistill.registry.born_again import chain_model_name

    local = ensure_local_stack(ROOT, tracking_uri)
    chain_config = params.born_again.model_copy(update={"chain_id": chain_id})
    name = chain_model_name(params.registry.model_name, chain_config)
    generations = _generations(local.tracking_uri, name, chain_config)
    if not generations:
        fail(f"chain '{chain_id}' has no registered generation in {name} at {local.tracking_uri}")
    _print_chain(generations, chain_config, name)


@click.group(invoke_without_command=True)
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
        fail("schedule needs --cron (or one of: list, pause, resume, delete); see run.py schedule --help")
    from zenml.client import Client
    from zenml.config.schedule import Schedule

    pipeline = born_again_pipeline()
    document, params = load_config(config_path, born_again_pipeline, chain=True)
    orchestrator = Client().active_stack.orchestrator
    if not orchestrator.config.is_schedulable:
        fail(f"the active stack's orchestrator '{orchestrator.name}' ({orchestrator.flavor}) cannot run schedules; "
             f"run the chain now with `python run.py born-again --config {config_path} --generations N`, "
             "or activate a Kubernetes stack (python run.py stack k8s ...)")
    name = name or f"fastdistill-{params.born_again.chain_id}"
    run(pipeline, config_path, document, params, False, Schedule(name=name, cron_expression=cron))
    console.print(Text.assemble("scheduled ", (name, "bold"), f" ({cron}) on {orchestrator.name}"))


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
        fail(f"no schedule named '{name}' (see run.py schedule list)")
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
        fail(f"no schedule named '{name}' (see run.py schedule list)")
    console.print(f"schedule {name} deleted")
