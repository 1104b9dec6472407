"""Running a pipeline on a validated run YAML, and finding runs and their failures in ZenML.

`run_pipeline` writes the resolved run YAML (`fastdistill.run_config`) and
hands it to ZenML; when the run fails it raises `RunFailed` with the failing
steps' own messages, which ZenML has only logged. ZenML is imported inside
the functions: the CLI's `--help` and config validation never pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastdistill.run_config import pipeline_parameters, write_resolved_config


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


def latest_failure(pipeline_name: str) -> str:
    """`failure_details` of the pipeline's latest run ("" when there is no run at all)."""
    from zenml.client import Client

    try:
        run = Client().get_pipeline(pipeline_name).last_run
    except Exception:  # no run was even created: the caller's message is all there is
        return ""
    return failure_details(run)


def run_pipeline(pipeline, config_path: Path, document: dict, params, root: Path, no_cache: bool = False,
                 schedule: Any = None):
    """Run (or, with `schedule`, schedule) `pipeline` on the resolved YAML; return ZenML's run.

    Only the sections the pipeline takes are passed. Raises `RunFailed` with the failing steps' messages.
    """
    resolved = write_resolved_config(config_path, document, params, pipeline_parameters(pipeline), root, no_cache)
    options = {"config_path": str(resolved)} | ({"schedule": schedule} if schedule is not None else {})
    try:
        return pipeline.with_options(**options)()
    except Exception as err:  # ZenML already logged the trace; repeat the failing step's own message
        details = latest_failure(pipeline.name) or f"{type(err).__name__}: {err}"
        raise RunFailed(f"{config_path}: the run failed: {details}") from err


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
