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
              help="JSON from `terraform -chdir=infra/terraform/<gke|eks> output -json`; its `cloud` picks the stack.")
@click.option("--image-builder", type=click.Choice(["gcp", "aws", "local"]), default=None,
              help="gcp: Cloud Build (GKE's default); local: the Docker daemon on this machine (EKS's default); "
                   "aws: AWS CodeBuild, with --codebuild-project.")
@click.option("--codebuild-project", default=None, help="With --image-builder aws: the CodeBuild project to build in.")
@click.option("--no-activate", is_flag=True, help="Register without making it the active stack.")
def stack_k8s(outputs_path: Path, image_builder: str | None, codebuild_project: str | None, no_activate: bool) -> None:
    """Register the Kubernetes stack (GKE or EKS) from Terraform outputs.

    Kubernetes orchestrator, artifact store (GCS or S3), container registry
    (Artifact Registry or ECR), image builder, MLflow tracker and registry on
    the cluster's MLflow. MLflow's password is read from
    MLFLOW_TRACKING_PASSWORD into a ZenML secret; components only reference
    it. Idempotent."""
    from fastdistill.infra.k8s_stack import StackOutputsError, register_k8s_stack

    try:
        info = register_k8s_stack(outputs_path, image_builder, activate=not no_activate,
                                  codebuild_project=codebuild_project)
    except (StackOutputsError, RuntimeError) as err:  # RuntimeError: a component of that name with another flavor
        fail(str(err))
    for kind, name in info.components.items():
        console.print(f"  {kind:<20} {name}")
    state = "registered" if no_activate else "active"
    console.print(Text.assemble("stack ", (info.stack_name, "bold"), f" {state}; MLflow at {info.tracking_uri}"),
                  soft_wrap=True)
    for warning in info.warnings:
        warn(warning)
