"""What a failed or killed run reports and leaves, with real ZenML and MLflow stores in a temp project (issue 17).

- A run ZenML refuses before creating it reports its own error, never the
  error of the pipeline's previous (failed) run.
- A run whose process was SIGKILLed stays "running" in ZenML and RUNNING in
  MLflow until the project next starts a run, which marks it failed with the
  reason "process died"; while its process lives it is left alone.

ZenML runs in subprocesses (it reads ZENML_CONFIG_PATH at import), each
with the temp project's own config.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAIL_THEN_REFUSE = r"""
import json, sys
from pathlib import Path
from zenml import pipeline, step
from fastdistill.config import DataConfig, RunConfig
from fastdistill.infra.local_stack import ensure_local_stack
from fastdistill.infra.runs import RunFailed, run_pipeline

project, seeds = Path(sys.argv[1]), sys.argv[2]
ensure_local_stack(project)


@step
def synthesize() -> int:
    raise RuntimeError("teacher server http://127.0.0.1:9 is unreachable")


@pipeline(enable_cache=False)
def distill_like():
    synthesize()


messages = []
for document in ({"parameters": {}}, {"enable_cache": "maybe", "parameters": {}}):
    try:
        run_pipeline(distill_like, Path("configs/x.yaml"), document, RunConfig(data=DataConfig(seeds_path=seeds)),
                     project)
    except RunFailed as err:
        messages.append(str(err))
print(json.dumps(messages))
"""

DOOMED = r"""
import sys, time
from pathlib import Path
import mlflow
from zenml import pipeline, step
from fastdistill.infra.abandoned_runs import running_invocation
from fastdistill.infra.local_stack import ensure_local_stack

project, marker = Path(sys.argv[1]), Path(sys.argv[2])
local = ensure_local_stack(project)


@step(experiment_tracker=local.tracker_name)
def train() -> int:
    mlflow.log_metric("loss", 1.0)
    marker.write_text("started")
    time.sleep(600)
    return 1


@pipeline(enable_cache=False)
def doomed():
    train()


with running_invocation(project):
    doomed()
"""

CHECK = r"""
import json, sys
from pathlib import Path
from mlflow.tracking import MlflowClient
from zenml.client import Client
from fastdistill.infra.abandoned_runs import mark_abandoned_runs
from fastdistill.infra.local_stack import STACK_NAME, ensure_local_stack

project = Path(sys.argv[1])
local = ensure_local_stack(project)
marked = mark_abandoned_runs(project, STACK_NAME, local.tracking_uri)
run = Client().list_pipeline_runs(pipeline="doomed", size=1, hydrate=True).items[0]
run = Client().get_pipeline_run(run.id)
client = MlflowClient(local.tracking_uri)
mlflow_runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
print(json.dumps({"marked": marked, "name": run.name, "status": run.status.value, "reason": run.get_body().status_reason,
                  "steps": {n: s.status.value for n, s in run.steps.items()},
                  "mlflow": [[r.data.tags.get("mlflow.runName"), r.info.status, r.data.tags.get("fastdistill.failure")]
                             for r in mlflow_runs],
                  "records": sorted(p.name for p in (project / ".fastdistill" / "active").glob("*.json"))}))
"""


def _env(project: Path) -> dict:
    env = {**os.environ, "ZENML_CONFIG_PATH": str(project / ".zenml-global"), "ZENML_ANALYTICS_OPT_IN": "false",
           "MLFLOW_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _script(project: Path, name: str, text: str) -> Path:
    path = project / name  # a file in the project: ZenML resolves step sources from the main module's path
    path.write_text(text)
    return path


def _json(project: Path, script: Path, *args: str) -> dict | list:
    out = subprocess.run([sys.executable, str(script), str(project), *args], cwd=project, env=_env(project),
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_run_zenml_refuses_reports_its_own_error_not_the_previous_runs(tmp_path):
    script = _script(tmp_path, "fail_then_refuse.py", FAIL_THEN_REFUSE)
    failed, refused = _json(tmp_path, script, str(ROOT / "data" / "seeds.jsonl"))
    assert failed == ("configs/x.yaml: the run failed: step synthesize failed: teacher server http://127.0.0.1:9 "
                      "is unreachable")
    assert refused.startswith("configs/x.yaml: the run failed: ValidationError: ")
    assert "enable_cache" in refused and "Input should be a valid boolean" in refused
    assert "unreachable" not in refused and "\n" not in refused  # one line, and only this run's cause


@pytest.fixture()
def doomed_run(tmp_path):
    """A tracked one-step run whose process is alive inside its step; killed (if still alive) at the end."""
    marker = tmp_path / "started"
    script = _script(tmp_path, "doomed.py", DOOMED)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), str(marker)], cwd=tmp_path,
                            env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read()[-4000:]
        assert time.monotonic() < deadline, "the doomed run's step never started"
        time.sleep(0.5)
    yield tmp_path, proc
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_killed_runs_are_marked_failed_when_the_project_next_starts_a_run(doomed_run):
    project, proc = doomed_run
    check = _script(project, "check.py", CHECK)
    alive = _json(project, check)
    assert alive["marked"] == [] and alive["status"] == "running"  # its process lives: left alone
    assert alive["records"] == [f"{socket.gethostname()}-{proc.pid}.json"]

    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after = _json(project, check)
    assert after["marked"] == [after["name"]]
    assert (after["status"], after["reason"]) == ("failed", "process died")
    assert after["steps"] == {"train": "failed"}
    assert after["mlflow"] == [[after["name"], "FAILED", "process died"]]
    assert after["records"] == []  # the dead process's record is gone
    again = _json(project, check)
    assert again["marked"] == [] and again["status"] == "failed"  # marked once
