"""`run.py distill`: one run of the distill pipeline (and, with no command, the quickstart)."""

from __future__ import annotations

from pathlib import Path

import click

from fastdistill.cli.common import (
    check_served,
    load_config,
    local_stack,
    preflight,
    print_dry_run,
    run,
    summary_and_report,
)
from fastdistill.cli.console import console
from fastdistill.cli.paths import QUICKSTART, REPORTS


@click.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=QUICKSTART, show_default=True,
              help="Run YAML: ZenML keys (model, settings, steps) plus FastDistill's `parameters:` sections.")
@click.option("--no-cache", is_flag=True, help="Re-run every step instead of reusing cached outputs.")
@click.option("--dry-run", is_flag=True, help="Run the preflight (config, ZenML fields, tracking store, report "
              "directory) and print the resolved parameters, then exit.")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None,
              help="MLflow tracking URI (default: a SQLite store under .fastdistill/mlflow). Env: MLFLOW_TRACKING_URI.")
@click.option("--report-dir", type=click.Path(path_type=Path), default=REPORTS, show_default=True,
              help="Where the run's HTML report is written.")
def distill(config_path: Path, no_cache: bool = False, dry_run: bool = False,
            tracking_uri: str | None = None, report_dir: Path = REPORTS) -> None:
    """Run the distill pipeline on a config.

    Stages: seeds, synthesis, quality gate, teacher inference, training
    (one step per sweep trial), best-trial selection, evaluation, registry.

    Sections under `parameters:`: data, synthesis, gate, teacher, student,
    training, sweep, evaluation, registry. Unknown keys, wrong types, a missing seeds
    file or an unknown model spec stop the run before any step starts.
    """
    document, params = load_config(config_path)
    preflight(tracking_uri, report_dir)  # the tracking store and the report directory, before any step
    check_served(params)  # a served teacher that caps logprobs, or a judge that does not answer, before any spend
    if dry_run:
        print_dry_run(config_path, document, params)
        return
    from fastdistill.reporting.summary import print_summary

    local = local_stack(tracking_uri)
    from pipelines import distill as distill_pipeline

    finished = run(distill_pipeline, config_path, document, params, no_cache, tracking_uri=local.tracking_uri)
    summary, report = summary_and_report(finished, local.tracking_uri, report_dir)
    print_summary(summary, report, console)
