"""`run.py stack` (the local ZenML + MLflow stack) and `run.py stack k8s` (the Kubernetes one)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from fastdistill.cli.console import console, fail, warn
from fastdistill.cli.paths import ROOT


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
    _print_registered(info, activated=not no_activate)


def _print_registered(info, activated: bool) -> None:
    """What `stack k8s` and `stack kubeflow` registered: each component, the stack, MLflow, any warning."""
    for kind, name in info.components.items():
        console.print(f"  {kind:<20} {name}")
    state = "active" if activated else "registered"
    console.print(Text.assemble("stack ", (info.stack_name, "bold"), f" {state}; MLflow at {info.tracking_uri}"),
                  soft_wrap=True)
    for warning in info.warnings:
        warn(warning)


@stack.command("kubeflow")
@click.option("--outputs", "outputs_path", type=click.Path(path_type=Path), default=None,
              help="Terraform outputs as for `stack k8s`: artifact store, container registry, MLflow (and, with "
                   "--dry-run, the image names).")
@click.option("--kfp-host", default=None, help="Kubeflow Pipelines endpoint (multi-user Kubeflow), e.g. "
              "https://kubeflow.example.com/pipeline.")
@click.option("--kube-context", default=None, help="Reach KFP through this kube context's API proxy "
              "(default: the outputs' kubernetes_context).")
@click.option("--kubeflow-namespace", default="kubeflow", show_default=True, help="Where KFP is deployed.")
@click.option("--user-namespace", default=None, help="Multi-user Kubeflow: the profile namespace runs go to.")
@click.option("--image-builder", type=click.Choice(["gcp", "aws", "local"]), default=None, help="As for `stack k8s`.")
@click.option("--codebuild-project", default=None, help="As for `stack k8s`.")
@click.option("--no-activate", is_flag=True, help="Register without making it the active stack.")
@click.option("--dry-run", is_flag=True, help="Register nothing: compile the pipeline of --config to the KFP "
              "pipeline spec the orchestrator would upload, write it to --output and show each step's placement.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=ROOT / "configs" / "k8s.yaml",
              show_default=True, help="With --dry-run: the run YAML whose placement is compiled.")
@click.option("--output", type=click.Path(path_type=Path), default=None, help="With --dry-run: the spec file.")
def stack_kubeflow(outputs_path: Path | None, kfp_host: str | None, kube_context: str | None,
                   kubeflow_namespace: str, user_namespace: str | None, image_builder: str | None,
                   codebuild_project: str | None, no_activate: bool, dry_run: bool, config_path: Path,
                   output: Path | None) -> None:
    """Register the Kubeflow Pipelines stack: the `stack k8s` components with FastDistill's Kubeflow orchestrator.

    The orchestrator is ZenML's Kubeflow one plus each step's pod settings
    (the run YAML's `orchestrator.kubernetes` placement: node selectors,
    tolerations, CPU, memory, GPUs, /dev/shm). Compiling and running need kfp
    and kfp-kubernetes (.venv-kfp; see docs/kubernetes.md). Idempotent."""
    if dry_run:
        if output is None:
            fail("--dry-run needs --output FILE: where the compiled KFP pipeline spec is written")
        _kubeflow_dry_run(config_path, output, outputs_path)
        return
    if outputs_path is None:
        fail("--outputs is required to register the stack (JSON from `terraform output -json`); "
             "or --dry-run --output FILE to compile the pipeline spec only")
    from fastdistill.infra.k8s_stack import StackOutputsError
    from fastdistill.infra.kubeflow import register_kubeflow_stack

    try:
        info = register_kubeflow_stack(outputs_path, kfp_host, kube_context, kubeflow_namespace, user_namespace,
                                       image_builder, codebuild_project, activate=not no_activate)
    except (StackOutputsError, RuntimeError) as err:  # RuntimeError: also KubeflowUnavailable
        fail(str(err))
    _print_registered(info, activated=not no_activate)


def _kubeflow_dry_run(config_path: Path, output: Path, outputs_path: Path | None) -> None:
    from rich.table import Table

    from fastdistill.cli.common import distill_pipeline, load_config
    from fastdistill.infra import kubeflow
    from fastdistill.infra.k8s_stack import StackOutputsError, read_outputs
    from fastdistill.infra.placement import active_registry_uri
    from fastdistill.run_config import pipeline_sections

    try:
        kubeflow.require_kfp()
        registry = read_outputs(outputs_path).container_registry_uri if outputs_path else active_registry_uri()
    except (kubeflow.KubeflowUnavailable, StackOutputsError) as err:
        fail(str(err))
    document, params = load_config(config_path)  # the same checks as `distill --dry-run`
    pipeline = distill_pipeline()
    try:
        spec = kubeflow.compile_pipeline_spec(pipeline, document, pipeline_sections(params, pipeline), output,
                                              registry)
    except ValueError as err:
        fail(f"{config_path}: the KFP pipeline spec cannot be compiled: {err}")
    table = Table(title=f"Kubeflow placement (read back from {output})")
    for column in ("step", "pool", "GPUs", "CPU", "memory", "tolerations"):
        table.add_column(column, overflow="fold")
    for row in kubeflow.read_spec(output):
        table.add_row(row.step, row.pool, str(row.gpus), row.cpu, row.memory, ", ".join(row.tolerations) or "-")
    console.print(table)
    by_setting: dict[str, list[str]] = {}
    for step, settings in spec.not_carried.items():
        for setting in settings:
            by_setting.setdefault(setting, []).append(step)
    for setting, steps in by_setting.items():
        which = "every step" if len(steps) == len(spec.steps) else ", ".join(steps)
        warn(f"KFP cannot carry the pod setting {setting} ({which}): it is not applied on Kubeflow")
    console.print(Text(f"{output}: KFP pipeline spec with {len(spec.steps)} steps (nothing uploaded)",
                       style="green"), soft_wrap=True)
