"""What the commands that run pipelines share: load a config, run, show the dry run, write the report."""

from __future__ import annotations

from pathlib import Path

import yaml
from rich.text import Text

from fastdistill.cli.console import RUN_FAILED, console, fail
from fastdistill.cli.paths import ROOT


def distill_pipeline():
    from pipelines import distill

    return distill


def read_config(config_path: Path):
    """The run YAML and its validated parameters; bad input exits 2 listing every problem."""
    from fastdistill.run_config import ConfigError, load_run_config

    try:
        return load_run_config(config_path)
    except ConfigError as err:
        fail(str(err))


def load_config(config_path: Path, load_pipeline=distill_pipeline, chain: bool = False):
    """`read_config`, ZenML's own fields checked, then the step placement checked against the pipeline.

    `chain`: also the checks a Born-Again chain's YAML needs.
    """
    from fastdistill.infra.placement import checked_document
    from fastdistill.run_config import check_zenml_fields

    document, params = read_config(config_path)
    try:
        check_zenml_fields(document, str(config_path))
        if chain:
            from fastdistill.registry.born_again import check_run_document

            check_run_document(document, str(config_path))
        return checked_document(config_path, document, params, load_pipeline), params
    except ValueError as err:  # ConfigError from ZenML's fields or the placement, or a chain's check_run_document
        fail(str(err))


def preflight(tracking_uri: str | None, report_dir: Path | None = None) -> str:
    """The MLflow store and the output location checked before any step (and by `--dry-run`); the tracking URI.

    Creates nothing: the default store's directory is only named, not made.
    """
    from fastdistill.infra.local_stack import default_tracking_uri
    from fastdistill.infra.preflight import (
        PreflightError,
        check_output_dir,
        check_tracking_store,
    )

    uri = tracking_uri or default_tracking_uri(ROOT, create=False)
    try:
        check_tracking_store(uri)
        if report_dir is not None:
            check_output_dir(report_dir)
    except PreflightError as err:
        fail(str(err))
    return uri


def check_served(params, teacher: bool = True) -> None:
    """Served models answer before any step: a teacher with `teacher.top_k` logprobs, a judge with a verdict.

    Every command that runs a configured served model calls this first (distill, born-again; evaluate, whose
    teacher is always local, with `teacher` False)."""
    from fastdistill.inference.openai_server import ServerError

    try:
        if teacher and params.teacher.backend == "openai":
            from fastdistill.inference.openai_server import check_served_teacher

            check_served_teacher(params.teacher)
    except ServerError as err:
        fail(f"teacher: {err}")
    judge = params.evaluation.judge
    try:
        if judge is not None and judge.backend == "openai" and params.evaluation.judge_pairs:
            from fastdistill.evaluation.judge import check_served_judge

            check_served_judge(judge)
    except ServerError as err:
        fail(f"evaluation.judge: {err}")


def print_dry_run(config_path: Path, document: dict, params, load_pipeline=distill_pipeline) -> None:
    """The resolved parameters, and with Kubernetes settings the pods each step would run in."""
    from fastdistill.infra.k8s import uses_kubernetes

    console.print(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False), markup=False, highlight=False)
    if uses_kubernetes(document):
        try:
            _print_placement(document, params, load_pipeline())
        except ValueError as err:  # PlacementError or the kubernetes models refusing a manifest
            fail(f"{config_path}: the Kubernetes manifests would be invalid: {err}")
    console.print(Text(f"{config_path}: valid", style="green"))


def _print_placement(document: dict, params, pipeline) -> None:
    from rich.table import Table

    from fastdistill.infra.placement import active_registry_uri, dry_run_placement

    placement = dry_run_placement(document, params, pipeline, active_registry_uri())
    table = Table(title="Kubernetes placement (dry run: the step Jobs the orchestrator would submit)")
    for column in placement.columns:
        table.add_column(column, overflow="fold")
    for cells in placement.table_rows():
        table.add_row(*cells)
    console.print(table)
    if len(placement.images) == 1:
        console.print(f"image (every step): {placement.images[0]}, built on {placement.base_image}", highlight=False,
                      soft_wrap=True)


def run(pipeline, config_path: Path, document: dict, params, no_cache: bool, schedule=None, tracking_uri=None):
    """Run the pipeline on the config; a failed run exits 1 naming each failed step with its error."""
    from fastdistill.infra.runs import RunFailed, run_pipeline

    try:
        return run_pipeline(pipeline, config_path, document, params, ROOT, no_cache, schedule, tracking_uri)
    except RunFailed as err:
        fail(str(err), code=RUN_FAILED)


def summary_and_report(run, tracking_uri: str, report_dir: Path):
    """The run's `RunSummary` (its build_report step's output) and the HTML report written from it."""
    from fastdistill.infra.runs import reload
    from fastdistill.reporting.html import write_report
    from fastdistill.reporting.summary import MissingSummary, summary_of_run

    try:
        summary = summary_of_run(reload(run), tracking_uri)
    except MissingSummary as err:
        fail(str(err), code=RUN_FAILED)
    try:
        return summary, write_report(summary, report_dir)
    except OSError as err:  # checked by the preflight; this is a change since then, said in one line
        fail(f"the run finished but its report could not be written to {report_dir}: {err.strerror or err} "
             f"(python run.py report {summary.run_name} writes it again)", code=RUN_FAILED)


def local_stack(tracking_uri: str | None):
    """`ensure_local_stack` for this project; its refusals (a broken MLflow integration, a component of that
    name with another flavor) exit 2 in one line."""
    from fastdistill.infra.local_stack import ensure_local_stack

    try:
        return ensure_local_stack(ROOT, tracking_uri)
    except RuntimeError as err:
        fail(str(err))
