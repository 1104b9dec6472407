"""Runs a crash left "running": marked failed, with the reason "process died", when the project next starts a run.

On the local stack a pipeline runs inside the `run.py` process. When that
process is killed (SIGKILL, OOM killer, a closed laptop lid that never came
back) nothing tells ZenML or MLflow: the run stays "running" in ZenML and
RUNNING in MLflow forever, and the dashboards show a run that will never end.

So every `run.py` that runs a pipeline leaves a record of itself
(`.fastdistill/active/<host>-<pid>.json`: host, pid, process start time)
while it runs (`running_invocation`), and before it starts its own run it
looks for runs on the local stack that are still "running"
(`mark_abandoned_runs`). A run is abandoned when no other invocation on this
host that started before the run was created is still alive: only such an
invocation could be running it. Abandoned runs and their unfinished steps
are marked failed in ZenML, their MLflow runs FAILED, each with the reason.
Runs on other stacks (Kubernetes) are never touched: their process is not
on this machine.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastdistill.infra.processes import process_started, still_running

ACTIVE_DIR = Path(".fastdistill") / "active"
REASON = "process died"
UNFINISHED = ("initializing", "provisioning", "queued", "running")

log = logging.getLogger(__name__)


@contextmanager
def running_invocation(root: Path) -> Iterator[Path]:
    """A record of this process for as long as it runs a pipeline; removed when it ends (a kill leaves it)."""
    record = root / ACTIVE_DIR / f"{socket.gethostname()}-{os.getpid()}.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                  "started": process_started(os.getpid()),
                                  "since": datetime.now(UTC).isoformat()}))
    try:
        yield record
    finally:
        record.unlink(missing_ok=True)


def _alive(record: dict) -> bool:
    return still_running(int(record["pid"]), record.get("started"))


def live_invocations(root: Path) -> list[datetime]:
    """When each other invocation still running on this host began; records of dead ones are removed."""
    live = []
    for path in sorted((root / ACTIVE_DIR).glob(f"{socket.gethostname()}-*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being written right now, or gone
        if int(record.get("pid", -1)) == os.getpid():
            continue
        if _alive(record):
            live.append(datetime.fromisoformat(record["since"]))
        else:
            path.unlink(missing_ok=True)
    return live


def mark_abandoned_runs(root: Path, stack_name: str, tracking_uri: str | None = None) -> list[str]:
    """Mark the local stack's unfinished runs that no live invocation can own as failed; their names."""
    from zenml.client import Client

    live = live_invocations(root)
    marked = []
    for status in UNFINISHED:
        for run in Client().list_pipeline_runs(status=status, size=50, hydrate=True).items:
            created = run.created.replace(tzinfo=UTC) if run.created.tzinfo is None else run.created
            if _stack_name(run) != stack_name or any(since <= created for since in live):
                continue
            _fail_zenml_run(run)
            if tracking_uri:
                _fail_mlflow_runs(tracking_uri, run.name)
            log.warning("run %s was left %s by a process that died; marked failed", run.name, status)
            marked.append(run.name)
    return marked


def _stack_name(run) -> str | None:
    try:
        return run.stack.name if run.stack is not None else None
    except (KeyError, AttributeError):  # the stack was deleted since
        return None


def _fail_zenml_run(run) -> None:
    from zenml.client import Client
    from zenml.enums import ExecutionStatus
    from zenml.models import PipelineRunUpdate, StepRunUpdate

    store, now = Client().zen_store, datetime.now(UTC)
    for step in Client().get_pipeline_run(run.id).steps.values():
        if step.status.value in UNFINISHED:
            store.update_run_step(step.id, StepRunUpdate(status=ExecutionStatus.FAILED, end_time=now))
    store.update_run(run.id, PipelineRunUpdate(status=ExecutionStatus.FAILED, status_reason=REASON))


def _fail_mlflow_runs(tracking_uri: str, run_name: str) -> None:
    """The MLflow run ZenML's tracker named after the pipeline run, and its nested trial runs, set FAILED."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return
    running = client.search_runs(experiments, "attributes.status = 'RUNNING'")
    parents = {r.info.run_id for r in running if r.data.tags.get("mlflow.runName") == run_name}
    for run in running:
        if run.info.run_id in parents or run.data.tags.get("mlflow.parentRunId") in parents:
            client.set_tag(run.info.run_id, "fastdistill.failure", REASON)
            client.set_terminated(run.info.run_id, "FAILED")
