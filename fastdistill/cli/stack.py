"""`run.py stack` (the local ZenML + MLflow stack) and `run.py stack k8s` (the Kubernetes one)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from fastdistill.cli.console import console, fail, warn


@click.group(invoke_without_command=True)
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None, help="MLflow tracking URI to configure.")
@click.pass_context
def stack(ctx: click.Context, tracking_uri: str | None) -> None:
    """Create and activate the local ZenML + MLflow stack (or, with `k8s`, the Kubernetes one).

    Idempotent: the local orchestrator and artifact store plus an MLflow
    experiment tracker and model registry (SQLite under .fastdistill/mlflow)."""
    if ctx.invoked_subcommand is not None:
        return
    from fastdistill.cli.common import local_stack, preflight

    info = local_stack(preflight(tracking_uri))  # a store it cannot use is named before ZenML is configured
    console.print(Text.assemble("stack ", (info.stack_name, "bold"), f" active: tracker {info.tracker_name}, "
                                f"registry {info.registry_name}, MLflow at {info.tracking_uri}"), soft_wrap=True)


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
        fail(str(err))
    for kind, name in info.components.items():
        console.print(f"  {kind:<20} {name}")
    state = "registered" if no_activate else "active"
    console.print(Text.assemble("stack ", (info.stack_name, "bold"), f" {state}; MLflow at {info.tracking_uri}"),
                  soft_wrap=True)
    for warning in info.warnings:
        warn(warning)
