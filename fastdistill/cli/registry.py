"""`run.py promote` (a champion by hand), `run.py registry repair` (what a crashed registration left) and
`run.py export` (a registered student as a standalone Hugging Face folder)."""

from __future__ import annotations

from pathlib import Path

import click

from fastdistill.cli.console import RUN_FAILED, console, fail, warn


def _connect(tracking_uri: str | None) -> str:
    """The tracking store checked (reachable, writable) and made current; its URI."""
    from fastdistill.cli.common import local_stack, preflight

    local = local_stack(preflight(tracking_uri))
    import mlflow

    mlflow.set_tracking_uri(local.tracking_uri)
    return local.tracking_uri


@click.command()
@click.argument("version")
@click.option("--reason", required=True, help="Why this version becomes the champion (recorded as a tag).")
@click.option("--wait", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="Seconds to wait for the promotion lock while another promotion holds it.")
@click.option("--model-name", default="fastdistill-student", show_default=True)
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI.")
def promote(version: str, reason: str, model_name: str, tracking_uri: str | None, wait: float = 120.0) -> None:
    """Make VERSION the champion by hand; the old champion becomes previous-champion.

    Records who and why as version tags, moves the ZenML model version to
    `production`, and is idempotent."""
    _connect(tracking_uri)
    from mlflow.exceptions import MlflowException

    from fastdistill.registry import mlflow_registry
    from fastdistill.registry.zenml_stage import sync_zenml_stage

    try:
        result = mlflow_registry.promote(model_name, version, reason=reason, stage_sync=sync_zenml_stage, notify=warn,
                                         lock_timeout_s=wait)
    except (mlflow_registry.RegistryUnreachable, mlflow_registry.LockHeld, MlflowException, RuntimeError) as err:
        fail(_one_line(err), code=RUN_FAILED)
    except ValueError as err:
        fail(str(err))
    console.print(f"{model_name} v{result.version}: {result.reason} (aliases {result.aliases}"
                  + (f", previous champion v{result.previous_champion})" if result.previous_champion else ")"),
                  markup=False, highlight=False, soft_wrap=True)


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


@click.group()
def registry() -> None:
    """The MLflow model registry: repair what a crashed registration left."""


@registry.command("repair")
@click.option("--model-name", default="fastdistill-student", show_default=True)
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI.")
def repair(model_name: str, tracking_uri: str | None) -> None:
    """Remove versions a crashed registration left incomplete, undo interrupted manual promotions, restore aliases.

    Takes the promotion lock (a dead holder's lock is reclaimed at once), so
    it never touches a registration in progress. Every registration does
    the same first; this command is for looking without registering."""
    _connect(tracking_uri)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from fastdistill.registry import transaction
    from fastdistill.registry.lock import LockHeld, PromotionLock

    client = MlflowClient()
    try:
        with PromotionLock(client, model_name, notify=warn):
            repaired = transaction.repair(client, model_name)
    except (LockHeld, MlflowException, RuntimeError) as err:
        fail(_one_line(err), code=RUN_FAILED)
    if repaired.removed:
        console.print(f"{model_name}: removed incomplete version(s) {repaired.removed}; aliases restored", markup=False)
    if repaired.unpromoted:
        console.print(f"{model_name}: undid the interrupted manual promotion of version(s) {repaired.unpromoted}; "
                      "aliases and tags restored", markup=False)
    if not (repaired.removed or repaired.unpromoted):
        console.print(f"{model_name}: nothing to repair", markup=False)


@click.command("export")
@click.argument("uri")
@click.option("--output", required=True, type=click.Path(path_type=Path),
              help="A new (or empty) folder to write the model into.")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None,
              help="MLflow tracking URI (default: the project's SQLite store).")
def export(uri: str, output: Path, tracking_uri: str | None) -> None:
    """Write the model URI names (models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/student) as a
    standalone Hugging Face folder: safetensors weights, tokenizer with its chat template, generation_config.json
    and a model card README.md. It loads with `from_pretrained(DIR)` alone and `vllm serve DIR` serves it."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from fastdistill.cli.paths import ROOT
    from fastdistill.infra.local_stack import default_tracking_uri
    from fastdistill.registry.export import ExportError, export_student

    mlflow.set_tracking_uri(tracking_uri or default_tracking_uri(ROOT, create=False))
    try:
        result = export_student(uri, output)
    except ExportError as err:
        fail(str(err))
    except (MlflowException, OSError) as err:  # the store failed while reading or the folder while writing
        fail(f"export of {uri} to {output} failed, nothing was written: {_one_line(err)}", code=RUN_FAILED)
    for message in result.warnings:
        warn(message)
    what = f"{result.source.name} v{result.source.version}" if result.source.version else uri
    console.print(f"exported {what} to {output}: {', '.join(result.files)}", markup=False, highlight=False,
                  soft_wrap=True)
    console.print(f"load it with AutoModelForCausalLM.from_pretrained({str(output)!r}); serve it with "
                  f"`vllm serve {output}`", markup=False, highlight=False, soft_wrap=True)
