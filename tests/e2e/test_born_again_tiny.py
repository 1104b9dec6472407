"""End to end: a 3-generation Born-Again chain on tiny models, killed during generation 2 and resumed.

Real ZenML (local orchestrator), real MLflow registry (SQLite) and real training, in a fresh copy of
the project. The only thing faked is nothing: the kill is a real SIGKILL of the running command.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from test_distill_tiny import _run, _tracking_uri, project_env

from tests.support.project import copy_project

pytestmark = pytest.mark.e2e
CONFIG = "configs/tiny_born_again.yaml"
MODEL = "fastdistill-student-tiny"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TRAINING_STARTED = re.compile(r"Step `?train_student`? has started")  # ZenML's log line, with or without colour


def _kill_during_generation_2(project, env) -> str:
    """Start the chain, SIGKILL it once generation 2's training has started; return what it printed."""
    env = {**env, "PYTHONUNBUFFERED": "1"}  # see each line when it is printed, not when a pipe buffer fills
    proc = subprocess.Popen([sys.executable, "run.py", "born-again", "--config", CONFIG], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen, in_generation_2, deadline = [], False, time.monotonic() + 600
    for line in proc.stdout:
        seen.append(line)
        in_generation_2 = in_generation_2 or "generation 2 learns from" in line
        if in_generation_2 and TRAINING_STARTED.search(ANSI.sub("", line)):
            os.killpg(proc.pid, signal.SIGKILL)
            break
        assert time.monotonic() < deadline, "generation 2 never reached training"
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)[-3000:]
    return "".join(seen)


def _versions(client) -> list:
    return sorted(client.search_model_versions(f"name='{MODEL}'"), key=lambda v: int(v.tags["generation"]))


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory, model_cache_dir):
    from mlflow.tracking import MlflowClient

    project = copy_project(tmp_path_factory.mktemp("ban"))
    env = project_env(project, model_cache_dir)
    first = _run(project, env, "born-again", "--config", CONFIG, "--generations", "1")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-5000:]
    client = MlflowClient(_tracking_uri(project))
    killed = _kill_during_generation_2(project, env)
    after_kill = [v.tags["generation"] for v in _versions(client)]
    resumed = _run(project, env, "born-again", "--config", CONFIG)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-5000:]
    return project, env, client, killed, after_kill, resumed


def test_the_kill_left_only_generation_1_registered(chain_run):
    _, _, _, killed, after_kill, _ = chain_run
    assert "generation 2 learns from models:/fastdistill-student-tiny/1" in killed
    assert after_kill == ["1"]


def test_resume_finishes_generations_2_and_3_exactly_once(chain_run):
    _, _, client, _, _, resumed = chain_run
    assert "generation 1 learns from" not in resumed.stdout
    assert "generation 2 learns from" in resumed.stdout and "generation 3 learns from" in resumed.stdout
    assert "generation limit (3)" in resumed.stdout
    assert [v.tags["generation"] for v in _versions(client)] == ["1", "2", "3"]


def test_lineage_tags_link_each_generation_to_the_champion_it_learned_from(chain_run):
    _, _, client, _, _, _ = chain_run
    g1, g2, g3 = _versions(client)
    assert all(v.tags["chain_id"] == "tiny" for v in (g1, g2, g3))
    assert (g1.tags["teacher_version"], g1.tags["teacher"], g1.tags["parent_run_id"]) == ("original", "tiny:teacher", "")
    assert g2.tags["teacher_version"] == str(g1.version) and g2.tags["teacher"] == f"models:/{MODEL}/{g1.version}"
    assert g2.tags["parent_run_id"] == g1.tags["zenml_run_id"]
    # generation 3 learned from whichever version was champion after generation 2: g2 if it improved, else g1
    champion_after_2 = g2 if g2.tags["chain.improved"] == "true" else g1
    assert g3.tags["teacher_version"] == str(champion_after_2.version)
    assert g3.tags["parent_run_id"] == champion_after_2.tags["zenml_run_id"]
    for v in (g1, g2, g3):  # each generation is scored against the original teacher too, and says why it (did not) improve
        assert client.get_run(v.run_id).data.metrics["original_teacher.test/teacher_forced_kl"] > 0
        reason = v.tags["chain.reason"]
        assert any(s in reason for s in ("vs its teacher's", "minus its teacher's on the same test prompts",
                                         "no teacher score")), reason


def test_chain_show_and_local_schedule_refusal(chain_run):
    project, env, _, _, _, _ = chain_run
    shown = _run(project, {**env, "COLUMNS": "200"}, "chain", "show", "tiny", "--config", CONFIG)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert "Born-Again chain tiny" in shown.stdout and "models:/fastdistill-student-tiny/1" in shown.stdout
    refused = _run(project, env, "schedule", "--config", CONFIG, "--cron", "0 3 * * 0")
    assert refused.returncode == 2
    assert "cannot run schedules" in refused.stdout and "born-again --config" in refused.stdout


def test_each_generation_writes_a_report_with_the_chain_plot(chain_run):
    project, _, _, _, _, resumed = chain_run
    reports = sorted((project / "reports").glob("born_again-*.html"), key=lambda p: p.stat().st_mtime)
    assert len(reports) >= 3 and "generation 3 report:" in resumed.stdout
    last = reports[-1].read_text()
    assert 'data-figure="born_again"' in last and "Born-Again generations" in last
