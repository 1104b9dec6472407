"""Running a pipeline on a validated run YAML, and finding runs and their failures in ZenML.

`run_pipeline` writes the resolved run YAML (`fastdistill.run_config`) and
hands it to ZenML; when the run fails it raises `RunFailed` with the failing
steps' own messages, which ZenML has only logged. Those are read only from a
run this invocation created: a run can fail before ZenML creates it (a
config ZenML refuses, a stack that cannot start), and the pipeline's last run
is then an older one whose error has nothing to do with this failure. ZenML
is imported inside the functions: the CLI's `--help` and config validation
never pay for it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastdistill.infra.abandoned_runs import mark_abandoned_runs, running_invocation
from fastdistill.run_config import pipeline_parameters, write_resolved_config

log = logging.getLogger(__name__)


class RunFailed(RuntimeError):
    """A pipeline run that failed; the message names the config and each failed step with its error."""


class RunNotFound(LookupError):
    """No pipeline run by that name, id or id prefix."""


def failure_details(run) -> str:
    """The failed steps of a pipeline run, one line each with its exception message."""
    failed = [s for s in run.steps.values() if s.status.value == "failed"]
    return "\n".join(
        f"step {s.name} failed: {s.exception_info.message if s.exception_info else 'see the log above'}" for s in failed
    )


def newest_run(pipeline_name: str):
    """The pipeline's most recently created run (a light response), or None when it has none."""
    from zenml.client import Client

    try:
        runs = Client().list_pipeline_runs(pipeline=pipeline_name, sort_by="desc:created", size=1)
    except KeyError:  # no pipeline of that name yet
        return None
    return runs.items[0] if runs.items else None


def failure_since(pipeline_name: str, before) -> str:
    """`failure_details` of a run created after `before` (the newest run when this invocation started), else ""."""
    run = newest_run(pipeline_name)
    if run is None or (before is not None and (run.id == before.id or run.created <= before.created)):
        return ""  # ZenML created no run: the exception the caller holds is the whole story
    return failure_details(_load_run(run.id))


def _load_run(run_id):
    from zenml.client import Client

    return Client().get_pipeline_run(run_id)


def run_pipeline(pipeline, config_path: Path, document: dict, params, root: Path, no_cache: bool = False,
                 schedule: Any = None, tracking_uri: str | None = None):
    """Run (or, with `schedule`, schedule) `pipeline` on the resolved YAML; return ZenML's run.

    Only the sections the pipeline takes are passed. Raises `RunFailed` with the failing steps' messages.
    A run here first marks runs a killed invocation left "running" as failed (`abandoned_runs`); with
    `tracking_uri`, their MLflow runs too.
    """
    from fastdistill.infra.kubeflow import KubeflowUnavailable, for_active_stack

    try:
        document = for_active_stack(document)  # on a Kubeflow stack, the placement under its orchestrator's key
    except KubeflowUnavailable as err:
        raise RunFailed(f"{config_path}: the active stack runs on Kubeflow Pipelines, but {err}") from None
    resolved = write_resolved_config(config_path, document, params, pipeline_parameters(pipeline), root, no_cache)
    options = {"config_path": str(resolved)} | ({"schedule": schedule} if schedule is not None else {})
    if schedule is None:
        _mark_abandoned_runs(root, tracking_uri)
    with running_invocation(root):
        before = newest_run(pipeline.name)
        try:
            return pipeline.with_options(**options)()
        except Exception as err:  # ZenML already logged the trace; repeat the failing step's own message
            details = failure_since(pipeline.name, before) or _one_line(err)
            raise RunFailed(f"{config_path}: the run failed: {details}") from err


def _mark_abandoned_runs(root: Path, tracking_uri: str | None) -> None:
    from fastdistill.infra.local_stack import STACK_NAME

    try:
        mark_abandoned_runs(root, STACK_NAME, tracking_uri)
    except Exception as err:  # noqa: BLE001 (housekeeping of earlier runs never stops this one)
        log.warning("could not check for runs a killed process left running: %s: %s", type(err).__name__, err)


def _one_line(err: Exception) -> str:
    """An exception as `Type: message` on one line (pydantic's multi-line messages joined)."""
    return f"{type(err).__name__}: " + "; ".join(line.strip() for line in str(err).splitlines() if line.strip())


def find_run(name_or_id: str):
    """A pipeline run by name, id or id prefix (fully loaded, with its steps); `RunNotFound` lists recent runs."""
    from zenml.client import Client

    try:
        return Client().get_pipeline_run(name_or_id)
    except KeyError:
        recent = [r.name for r in Client().list_pipeline_runs(sort_by="desc:created", size=5).items]
        raise RunNotFound(f"no pipeline run '{name_or_id}'; recent runs: {recent or 'none'}") from None


def reload(run):
    """The run as the store has it now (a run returned by a pipeline call may be stale)."""
    from zenml.client import Client

    return Client().get_pipeline_run(run.id)
