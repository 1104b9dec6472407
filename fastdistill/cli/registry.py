"""`run.py promote` (a champion by hand) and `run.py registry repair` (what a crashed registration left)."""

from __future__ import annotations

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
