"""`run.py promote`: make a registered version the champion by hand."""

from __future__ import annotations

import click

from fastdistill.cli.console import RUN_FAILED, console, fail
from fastdistill.cli.paths import ROOT


@click.command()
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

    from fastdistill.registry import mlflow_registry
    from fastdistill.registry.zenml_stage import sync_zenml_stage

    mlflow.set_tracking_uri(local.tracking_uri)
    try:
        result = mlflow_registry.promote(model_name, version, reason=reason, stage_sync=sync_zenml_stage)
    except mlflow_registry.RegistryUnreachable as err:
        fail(str(err), code=RUN_FAILED)
    except ValueError as err:
        fail(str(err))
    console.print(f"{model_name} v{result.version}: {result.reason} (aliases {result.aliases}"
                  + (f", previous champion v{result.previous_champion})" if result.previous_champion else ")"))
