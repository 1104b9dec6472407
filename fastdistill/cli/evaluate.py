"""`run.py evaluate` (a model on a prompt file) and `run.py report` (a run's HTML report, again)."""

from __future__ import annotations

from pathlib import Path

import click

from fastdistill.cli.common import check_served, read_config, summary_and_report
from fastdistill.cli.console import console, fail
from fastdistill.cli.paths import QUICKSTART, REPORTS, ROOT


def _columns(ctx, param, value: str | None) -> dict[str, str]:
    """`prompt=question,reference=answer` as {format column: file column}."""
    pairs = [p.strip() for p in (value or "").split(",") if p.strip()]
    if any(p.count("=") != 1 or not all(p.split("=")) for p in pairs):
        raise click.BadParameter(f"{value!r}: expected NAME=COLUMN pairs separated by commas, "
                                 "e.g. prompt=question,reference=answer")
    return dict(p.split("=") for p in pairs)


@click.command()
@click.option("--model", "model_uri", required=True,
              help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/student, or a local model directory.")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path),
              help="Prompt file or save_to_disk folder (JSONL, JSON, CSV, Parquet), read as the pipeline reads "
              "data.path; references are optional here. See docs/data.md.")
@click.option("--format", "fmt", type=click.Choice(["auto", "seeds", "alpaca", "chat"]), default="auto",
              show_default=True, help="The file's format, as data.format (auto: detected from the columns).")
@click.option("--columns", callback=_columns, default=None, metavar="NAME=COLUMN,...",
              help="Your column names, as data.columns: e.g. prompt=question,reference=answer.")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Write the metrics (all groups, curves, judge verdicts, samples) here as JSON.")
@click.option("--teacher", "teacher_spec", default=None,
              help="Teacher to compare with (default: the teacher recorded with the model, else the config's).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=QUICKSTART, show_default=True,
              help="Run YAML whose `evaluation:` and `teacher:` sections set the evaluation.")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None,
              help="MLflow tracking URI for models:/ and runs:/ (default: the project's SQLite store).")
def evaluate(model_uri: str, data_path: Path, fmt: str, columns: dict[str, str], output: Path | None,
             teacher_spec: str | None, config_path: Path, tracking_uri: str | None) -> None:
    """Evaluate a model on a prompt file with the full metric suite.

    The teacher answers every prompt (top-k logprobs) and the model is
    compared with it: quality, fidelity, calibration, diversity, exposure
    bias, judge, efficiency and speculative decoding."""
    from fastdistill.evaluation.evaluate_file import (
        MLFLOW_SCHEMES,
        InputError,
        evaluate_file,
        read_prompts,
        write_json,
    )
    from fastdistill.infra.local_stack import default_tracking_uri
    from fastdistill.infra.preflight import (
        PreflightError,
        check_output_file,
        check_tracking_store,
    )
    from fastdistill.models import ModelSpecError, VocabularyMismatchError

    try:  # the output location and the data before the evaluation, which takes minutes, not after it
        if output is not None:
            check_output_file(output)
        read_prompts(data_path, fmt, columns)
        if model_uri.startswith(MLFLOW_SCHEMES):  # the registry the model comes from
            check_tracking_store(tracking_uri or default_tracking_uri(ROOT, create=False), credentials=False)
    except (PreflightError, InputError) as err:
        fail(str(err))
    _, params = read_config(config_path)
    check_served(params, teacher=False)  # a served judge answers before the models load (the teacher is local here)
    import mlflow

    from fastdistill.reporting.summary import RunSummary, print_summary

    mlflow.set_tracking_uri(tracking_uri or default_tracking_uri(ROOT))
    try:
        document, result = evaluate_file(model_uri, data_path, params.teacher, params.evaluation, teacher_spec, fmt,
                                         columns)
    except (InputError, ModelSpecError, VocabularyMismatchError) as err:
        fail(str(err))
    if output is not None:
        try:
            write_json(document, output)
        except OSError as err:  # changed since the check above: say so, in one line
            fail(f"--output {output}: could not be written ({err.strerror or err})")
    scores = result.scores
    summary = RunSummary(f"evaluate {model_uri}", f"teacher {document['teacher']}", scores.values(),
                         split=scores.split, warnings=[w.model_dump() for w in result.warnings],
                         estimates={k: v for k, v in document["metrics"].items() if k in scores.per_example})
    print_summary(summary, None, console)
    if output is not None:
        console.print(f"metrics written to {output}", soft_wrap=True)


@click.command()
@click.argument("run")
@click.option("--report-dir", type=click.Path(path_type=Path), default=REPORTS, show_default=True)
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI.")
def report(run: str, report_dir: Path, tracking_uri: str | None) -> None:
    """Regenerate the HTML report of a pipeline run (its name, id or id prefix) and log it to MLflow again."""
    from fastdistill.infra.local_stack import ensure_local_stack

    local = ensure_local_stack(ROOT, tracking_uri)
    from fastdistill.infra.runs import RunNotFound, find_run

    try:
        found = find_run(run)
    except RunNotFound as err:
        fail(str(err))
    _, path = summary_and_report(found, local.tracking_uri, report_dir)
    console.print(f"report: {path}", soft_wrap=True)
