"""Registration as a transaction and the promotion lock's owner and lease, on a real MLflow server on PostgreSQL
(the `registry` fixture; issue 17).

The crash is real: a registration runs in a subprocess and is SIGKILLed once
its version exists and the aliases have moved (it waits in the `stage_sync`
callback, the last thing before the version is committed). The next
registration must not wait on the dead process's lock, and must leave no
version without a decision.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from test_stack_and_registry import NAME, _aliases, _register, _versions

from fastdistill.registry.lock import LOCK_SUFFIX, LockHeld, PromotionLock
from fastdistill.registry.transaction import INCOMPLETE, PROMOTION_TAG, STATE_TAG

HERE = Path(__file__).resolve().parent
LOCK = NAME + LOCK_SUFFIX

KILLED_REGISTRATION = r"""
import sys, time
from pathlib import Path
import mlflow
sys.path.insert(0, sys.argv[1])
from test_stack_and_registry import NAME, _evaluation
from fastdistill.registry.mlflow_registry import register_student
from fastdistill.registry.promotion import Policy

uri, experiment_id, student = sys.argv[2:5]
mlflow.set_tracking_uri(uri)
mlflow.set_experiment(experiment_id=experiment_id)


def wait_to_be_killed(stage, tags):
    print("ALIASES-MOVED", stage, flush=True)
    time.sleep(600)


with mlflow.start_run():
    register_student(Path(student), name=NAME, evaluation=_evaluation(0.90), tags={"objective": "fkl"},
                     policy=Policy("rougeL_vs_teacher", True, 0.0), stage_sync=wait_to_be_killed)
"""


KILLED_PROMOTION = r"""
import sys, time
import mlflow
from fastdistill.registry.mlflow_registry import promote

uri, name, version = sys.argv[2:5]
mlflow.set_tracking_uri(uri)


def wait_to_be_killed(stage, tags):
    print("ALIASES-MOVED", stage, flush=True)
    time.sleep(600)


promote(name, version, reason="by hand", stage_sync=wait_to_be_killed)
"""


def _kill_during_registration(client, student: Path, tmp_path: Path) -> int:
    """Start a registration in a subprocess, SIGKILL it after its aliases moved; its pid."""
    experiment_id = os.environ["MLFLOW_EXPERIMENT_ID"]  # the test's experiment: mlflow.set_experiment sets it
    return _kill_at_stage_sync(KILLED_REGISTRATION, tmp_path, experiment_id, str(student))


def _kill_at_stage_sync(script_text: str, tmp_path: Path, *args: str) -> int:
    """Run a registry script on the current tracking URI in a subprocess, SIGKILL it once its aliases moved (in
    `stage_sync`); its pid."""
    uri = mlflow.get_tracking_uri()
    script = tmp_path / "killed.py"
    script.write_text(script_text)
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1])}  # this checkout's fastdistill, not an installed one
    proc = subprocess.Popen([sys.executable, str(script), str(HERE), uri, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("ALIASES-MOVED production"), line + proc.stderr.read()[-3000:]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.pid


def test_a_registration_killed_after_its_version_exists_is_undone_by_the_next(registry, student_dir, tmp_path):
    _register(student_dir, 0.30)
    _register(student_dir, 0.20)
    assert _aliases(registry) == {"challenger": "2", "champion": "1"}
    pid = _kill_during_registration(registry, student_dir, tmp_path)
    # What the crash left: v3 marked incomplete holding the aliases it moved, and the lock of a dead process.
    assert registry.get_model_version(NAME, "3").tags[STATE_TAG] == INCOMPLETE
    assert _aliases(registry) == {"challenger": "3", "champion": "3", "previous-champion": "1"}
    assert registry.get_registered_model(LOCK).tags["owner.pid"] == str(pid)

    started = time.monotonic()
    result = _register(student_dir, 0.25)
    assert time.monotonic() - started < 60  # the dead owner's lock is reclaimed at once, not after 120 s
    assert (result.version, result.decision, result.aliases) == ("4", "hold", ["challenger"])
    assert _versions(registry) == ["1", "2", "4"]  # v3 removed
    assert _aliases(registry) == {"challenger": "4", "champion": "1"}  # the champion v3 took is back
    for version in registry.search_model_versions(f"name='{NAME}'"):
        assert version.tags["promotion.decision"] in ("promote", "hold") and STATE_TAG not in version.tags
    assert [m.name for m in registry.search_registered_models()] == [NAME]  # the lock is gone


def test_a_manual_promotion_killed_halfway_is_undone_by_the_next_registration(registry, student_dir, tmp_path):
    _register(student_dir, 0.30)
    _register(student_dir, 0.20)
    held = dict(registry.get_model_version(NAME, "2").tags)
    _kill_at_stage_sync(KILLED_PROMOTION, tmp_path, NAME, "2")
    # What the crash left: v2 champion with the manual tags, and the record of what to put back.
    assert _aliases(registry) == {"challenger": "2", "champion": "2", "previous-champion": "1"}
    tags = registry.get_model_version(NAME, "2").tags
    assert tags["promotion.decision"] == "manual" and PROMOTION_TAG in tags

    result = _register(student_dir, 0.25)
    assert (result.version, result.decision) == ("3", "hold")  # compared with the real champion, v1
    assert _aliases(registry) == {"challenger": "3", "champion": "1"}
    assert dict(registry.get_model_version(NAME, "2").tags) == held  # its hold decision, no promotion.by


def _dead_process() -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", "import os, psutil; print(os.getpid(), psutil.Process().create_time())"],
                         capture_output=True, text=True, check=True)
    pid, started = out.stdout.split()
    return pid, started


def _plant_lock(client, **owner: str) -> None:
    client.create_registered_model(LOCK, tags={"owner": "planted", "lease_s": "300", **owner})


def test_a_dead_owners_lock_is_reclaimed_at_once(registry):
    pid, started = _dead_process()
    _plant_lock(registry, **{"owner.host": socket.gethostname(), "owner.pid": pid, "owner.started": started})
    began = time.monotonic()
    with PromotionLock(registry, NAME, timeout_s=30):
        assert registry.get_registered_model(LOCK).tags["owner.pid"] == str(os.getpid())
    assert time.monotonic() - began < 5
    assert registry.search_registered_models() == []


def test_another_hosts_lock_is_reclaimed_when_its_lease_ran_out(registry):
    _plant_lock(registry, **{"owner.host": "elsewhere", "owner.pid": "1", "owner.started": "0", "lease_s": "1"})
    time.sleep(1.2)
    with PromotionLock(registry, NAME, timeout_s=30):
        assert registry.get_registered_model(LOCK).tags["owner.host"] == socket.gethostname()


def test_a_waiter_names_the_live_holder_and_gives_up_without_breaking_it(registry):
    told: list[str] = []
    with PromotionLock(registry, NAME):
        with pytest.raises(LockHeld) as err, PromotionLock(registry, NAME, timeout_s=1.0, notify=told.append):
            pytest.fail("two holders at once")
        holder = f"{socket.gethostname()} pid {os.getpid()} since "
        assert len(told) == 1 and told[0].startswith(f"waiting for the promotion lock {LOCK}, held by {holder}")
        assert str(err.value).startswith(f"the promotion lock {LOCK} is held by {holder}")
        assert "(lease 300.0 s); waited 1 s; run again when it is released" in str(err.value)
        assert registry.get_registered_model(LOCK).tags["owner.pid"] == str(os.getpid())  # still held
    assert registry.search_registered_models() == []
