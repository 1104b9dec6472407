"""`run.py` refusing bad input before any step, in a fresh copy of the project (issue 17).

Each case runs `run.py` as a user would and checks three things: the one
line it prints names the cause, the exit code is 2 (bad input; 1 for a run
that failed), and nothing was left behind in the project (no MLflow store,
no ZenML repository, no report, no temporary file). No pipeline runs here:
every fault is caught by the preflight, which `--dry-run` runs exactly.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.project import copy_project



def _project(dest: Path, model_cache_dir: Path) -> tuple[Path, dict]:
    copy_project(dest)
    env = {**os.environ, "ZENML_CONFIG_PATH": str(dest.parent / f"{dest.name}-zenml"),
           "FASTDISTILL_CACHE": str(model_cache_dir), "ZENML_ANALYTICS_OPT_IN": "false", "HF_HUB_OFFLINE": "1"}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        env.pop(name, None)
    return dest, env


@pytest.fixture(scope="module")
def project(tmp_path_factory, model_cache_dir) -> tuple[Path, dict]:
    """One copy for the refusals: each leaves nothing, so they can share it."""
    return _project(tmp_path_factory.mktemp("project"), model_cache_dir)


@pytest.fixture()
def own_project(tmp_path_factory, model_cache_dir) -> tuple[Path, dict]:
    """A copy for a command past the preflight: it rightly sets up the local stack (.zen) before its work."""
    return _project(tmp_path_factory.mktemp("own-project"), model_cache_dir)


def _run(project: tuple[Path, dict], *args: str, prefix: list[str] = (), **env) -> tuple[int, str, str]:
    """`run.py ARGS` in the project copy; `prefix` starts it another way (`tests.support.read_only.unwritable`)."""
    dest, base = project
    out = subprocess.run([*prefix, sys.executable, "run.py", *args], cwd=dest, env={**base, **env},
                         capture_output=True, text=True, timeout=300, check=False)
    return out.returncode, " ".join(out.stdout.split()), out.stderr


def _left_behind(dest: Path) -> list[str]:
    """What a refused command may not create: project state, reports, temporary files."""
    made = [p for p in (".fastdistill", ".zen", "reports", "mlruns") if (dest / p).exists()]
    return made + [str(p.relative_to(dest)) for p in dest.rglob("*.tmp*")]


def _tiny_with(dest: Path, name: str, old: str, new: str) -> str:
    text = (dest / "configs" / "tiny.yaml").read_text()
    assert old in text
    (dest / "configs" / name).write_text(text.replace(old, new, 1))
    return f"configs/{name}"


def test_an_unreachable_tracking_server_is_named_by_the_dry_run(project):
    started = time.monotonic()
    code, out, err = _run(project, "distill", "--config", "configs/tiny.yaml", "--dry-run",
                          MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    assert code == 2, out + err[-3000:]
    assert "error: MLflow at http://127.0.0.1:9 is unreachable (ConnectionError within 3 s)" in out
    assert "Traceback" not in err and "authentication" not in out + err  # not ZenML's tracker validation
    assert time.monotonic() - started < 120  # imports included; the probe itself is bounded by 3 s
    assert _left_behind(project[0]) == []


@pytest.fixture(scope="module")
def login_server(tmp_path_factory):
    """MLflow's own authenticated server (`mlflow server --app-name basic-auth`), on a SQLite store of its own."""
    from tests.support.mlflow_server import start_auth_server

    tmp = tmp_path_factory.mktemp("login-server")
    server = start_auth_server(tmp, f"sqlite:///{tmp / 'mlflow.db'}")
    yield server
    server.stop()


def test_a_server_without_credentials_and_with_wrong_ones_is_named(project, login_server):
    """Missing credentials are named by the dry run; wrong ones stop a real run in the preflight, before any step or
    model (the server answers 401). The admin's login passes the same preflight, so the refusals are the login's."""
    from mlflow.tracking import MlflowClient

    from tests.support.mlflow_server import ADMIN, ADMIN_PASSWORD

    uri = login_server.uri
    code, out, err = _run(project, "distill", "--config", "configs/tiny.yaml", "--dry-run", MLFLOW_TRACKING_URI=uri)
    assert code == 2, out + err[-3000:]
    assert (f"error: MLflow at {uri} needs credentials: set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN") in out
    for user, password in (("me", "x"), (ADMIN, "not-the-password")):
        code, out, err = _run(project, "distill", "--config", "configs/tiny.yaml", MLFLOW_TRACKING_URI=uri,
                              MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=password)
        assert code == 2, out + err[-3000:]
        assert (f"error: MLflow at {uri} refused the credentials in MLFLOW_TRACKING_USERNAME / "
                "MLFLOW_TRACKING_PASSWORD (HTTP 401)") in out
        assert "Traceback" not in err
    code, out, err = _run(project, "distill", "--config", "configs/tiny.yaml", "--dry-run", MLFLOW_TRACKING_URI=uri,
                          MLFLOW_TRACKING_USERNAME=ADMIN, MLFLOW_TRACKING_PASSWORD=ADMIN_PASSWORD)
    assert code == 0 and "configs/tiny.yaml: valid" in out, out + err[-3000:]
    assert _left_behind(project[0]) == []
    with pytest.MonkeyPatch.context() as env:  # nothing was created on the server either
        env.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
        env.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
        admin = MlflowClient(uri)
        assert [e.name for e in admin.search_experiments()] == ["Default"]
        assert admin.search_registered_models() == [] and admin.search_runs(["0"]) == []


def test_a_file_store_is_refused_before_any_step(project, tmp_path):
    code, out, _ = _run(project, "distill", "--config", "configs/tiny.yaml", "--tracking-uri", f"file://{tmp_path}")
    assert code == 2
    assert f"error: MLflow tracking URI file://{tmp_path} is a file store, which has no model registry" in out
    assert _left_behind(project[0]) == [] and list(tmp_path.iterdir()) == []


def test_a_report_dir_that_is_a_file_is_refused_before_any_step(project, tmp_path):
    blocker = tmp_path / "reports"
    blocker.write_text("not a directory")
    code, out, _ = _run(project, "distill", "--config", "configs/tiny.yaml", "--report-dir", str(blocker))
    assert code == 2
    assert f"error: --report-dir {blocker} is a file, not a directory" in out
    assert _left_behind(project[0]) == [] and blocker.read_text() == "not a directory"


def test_a_zenml_field_zenml_would_refuse_is_named_by_the_dry_run(project):
    config = _tiny_with(project[0], "maybe.yaml", "enable_cache: false", 'enable_cache: "maybe"')
    code, out, err = _run(project, "distill", "--config", config, "--dry-run")
    assert code == 2, out + err[-2000:]
    assert f"error: {config}: enable_cache: Input should be a valid boolean" in out and "got 'maybe'" in out
    assert "unreachable" not in out  # never another run's error
    assert _left_behind(project[0]) == []


def test_a_misspelled_step_key_is_refused_on_the_local_stack(project):
    config = _tiny_with(project[0], "typo_step.yaml", "enable_cache: false",
                        "enable_cache: false\nsteps:\n  evaluat:\n    enable_cache: true")
    code, out, _ = _run(project, "distill", "--config", config, "--dry-run")
    assert code == 2
    assert f"error: {config}: steps.evaluat: no step with this id in the pipeline" in out
    assert _left_behind(project[0]) == []


def test_an_empty_config_and_a_bool_batch_size_are_refused(project):
    (project[0] / "configs" / "empty.yaml").write_text("# to do\n")
    code, out, _ = _run(project, "distill", "--config", "configs/empty.yaml")
    assert code == 2 and "error: configs/empty.yaml: the file is empty" in out
    config = _tiny_with(project[0], "bool.yaml", "    batch_size: 8\n", "    batch_size: true\n")
    code, out, _ = _run(project, "distill", "--config", config)
    assert code == 2 and f"error: {config}: training.batch_size: expected a number, got True" in out
    assert _left_behind(project[0]) == []


def test_a_student_deeper_than_the_teacher_is_refused_before_any_model_loads(project):
    config = _tiny_with(project[0], "deep.yaml", "    num_layers: 2\n", "    num_layers: 9\n")
    code, out, _ = _run(project, "distill", "--config", config)
    assert code == 2
    assert f"error: {config}: student.num_layers (9) exceeds the teacher tiny:teacher's 4 layers" in out
    assert _left_behind(project[0]) == []


def test_evaluate_output_naming_a_directory_is_refused_before_the_evaluation(project, tmp_path):
    (project[0] / "prompts.jsonl").write_text('{"prompt": "What is 2 + 3?"}\n')
    code, out, _ = _run(project, "evaluate", "--model", "models:/fastdistill-tiny/1", "--data", "prompts.jsonl",
                        "--output", str(tmp_path))
    assert code == 2
    assert f"error: --output {tmp_path} is a directory; name a file, e.g. {tmp_path / 'metrics.json'}" in out
    assert list(tmp_path.iterdir()) == [] and _left_behind(project[0]) == []


def test_evaluate_data_with_bytes_that_are_not_utf8_names_file_and_line(project, tmp_path):
    data = tmp_path / "latin1.jsonl"
    data.write_bytes(b'{"prompt": "What is 2 + 3?"}\n{"prompt": "caf\xe9 au lait?"}\n')
    code, out, err = _run(project, "evaluate", "--model", "models:/fastdistill-tiny/1", "--data", str(data),
                          "--output", str(tmp_path / "metrics.json"))
    assert code == 2, err[-2000:]
    assert f"error: {data}:2: not UTF-8 (byte 0xe9 at column 16); save the file as UTF-8" in out
    assert "Traceback" not in err and "UnicodeDecodeError" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latin1.jsonl"]


def test_a_read_only_mlflow_db_is_named_before_any_model_loads(project, tmp_path):
    from tests.support.read_only import unwritable

    db = tmp_path / "mlflow.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    before = db.read_bytes()
    with unwritable(db) as prefix:
        code, out, err = _run(project, "distill", "--config", "configs/tiny.yaml", "--tracking-uri", f"sqlite:///{db}",
                              prefix=prefix)
    assert code == 2, out + err[-3000:]
    assert f"error: MLflow store {db} cannot be written (attempt to write a readonly database)" in out
    assert _left_behind(project[0]) == [] and db.read_bytes() == before


def test_promote_waiting_on_a_held_lock_names_the_holder_without_a_traceback(own_project, tmp_path):
    from mlflow.tracking import MlflowClient

    from fastdistill.registry.lock import PromotionLock

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    client.create_registered_model("fastdistill-student")
    client.create_model_version("fastdistill-student", source=str(tmp_path))
    with PromotionLock(client, "fastdistill-student"):  # held by this (live) test process
        code, out, err = _run(own_project, "promote", "1", "--reason", "by hand", "--wait", "2", "--tracking-uri", uri)
    assert code == 1, out + err[-3000:]
    held = f"held by {socket.gethostname()} pid {os.getpid()} since "
    assert f"warning: waiting for the promotion lock fastdistill-student.promotion-lock, {held}" in out
    assert f"error: the promotion lock fastdistill-student.promotion-lock is {held}" in out
    assert "Traceback" not in err and "TimeoutError" not in out + err
    assert client.get_model_version("fastdistill-student", "1").aliases == []  # nothing moved


def test_registry_repair_removes_what_a_killed_registration_left(own_project, registry, student_dir, tmp_path):
    from test_registry_crash import _kill_during_registration
    from test_stack_and_registry import NAME, _aliases, _register, _versions

    _register(student_dir, 0.30)
    _kill_during_registration(registry, student_dir, tmp_path)  # v2 incomplete, champion moved to it, lock left
    uri = registry.tracking_uri  # the MLflow server on PostgreSQL; it takes any login, ZenML's tracker needs one
    login = {"MLFLOW_TRACKING_USERNAME": "ops", "MLFLOW_TRACKING_PASSWORD": "unused"}
    code, out, err = _run(own_project, "registry", "repair", "--tracking-uri", uri, **login)
    assert code == 0, out + err[-3000:]
    assert f"{NAME}: removed incomplete version(s) ['2']; aliases restored" in out
    assert _versions(registry) == ["1"] and _aliases(registry) == {"challenger": "1", "champion": "1"}
    assert [m.name for m in registry.search_registered_models()] == [NAME]  # the dead process's lock is gone
    code, out, _ = _run(own_project, "registry", "repair", "--tracking-uri", uri, **login)
    assert code == 0 and f"{NAME}: nothing to repair" in out


def test_a_served_teacher_that_caps_logprobs_is_refused_before_any_step(project):
    from tests.integration.openai_stub import StubServer

    with StubServer(max_logprobs=2) as server:  # vLLM started with --max-logprobs 2; teacher.top_k is 4
        config = _tiny_with(project[0], "served.yaml", "    top_k: 4\n",
                            f"    top_k: 4\n    backend: openai\n    base_url: {server.url}\n")
        code, out, _ = _run(project, "distill", "--config", config, "--dry-run")
    assert code == 2
    assert f"error: teacher: {server.url} caps logprobs at 2, below teacher.top_k=4" in out
    assert server.requests == 1 and server.generations == 0 and _left_behind(project[0]) == []


def test_born_again_refuses_a_served_teacher_that_caps_logprobs_before_any_step(project):
    """The same preflight as distill's, run for real (no --dry-run): nothing starts, nothing is created."""
    from tests.integration.openai_stub import StubServer

    text = (project[0] / "configs" / "tiny_born_again.yaml").read_text()
    assert "    top_k: 4\n" in text
    with StubServer(max_logprobs=2) as server:
        (project[0] / "configs" / "served_chain.yaml").write_text(text.replace(
            "    top_k: 4\n", f"    top_k: 4\n    backend: openai\n    base_url: {server.url}\n", 1))
        code, out, _ = _run(project, "born-again", "--config", "configs/served_chain.yaml", "--generations", "1")
    assert code == 2
    assert f"error: teacher: {server.url} caps logprobs at 2, below teacher.top_k=4" in out
    assert server.requests == 1 and server.generations == 0 and _left_behind(project[0]) == []


def test_a_served_judge_that_does_not_answer_is_refused_before_any_step(project):
    judge = "  evaluation:\n    judge: {backend: openai, base_url: 'http://127.0.0.1:9/v1', model: judge, max_retries: 0}\n"
    config = _tiny_with(project[0], "judged.yaml", "  evaluation:\n", judge)
    code, out, _ = _run(project, "distill", "--config", config, "--dry-run")
    assert code == 2
    assert "error: evaluation.judge: http://127.0.0.1:9/v1/chat/completions unreachable after 1 tries" in out
    assert _left_behind(project[0]) == []


def test_evaluate_refuses_a_served_judge_that_does_not_answer_before_any_model_loads(project, tmp_path):
    judge = "  evaluation:\n    judge: {backend: openai, base_url: 'http://127.0.0.1:9/v1', model: judge, max_retries: 0}\n"
    config = _tiny_with(project[0], "judged_evaluation.yaml", "  evaluation:\n", judge)
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "What is 2 + 3?"}\n')
    code, out, _ = _run(project, "evaluate", "--model", "models:/fastdistill-tiny/1", "--data",
                        str(tmp_path / "prompts.jsonl"), "--output", str(tmp_path / "metrics.json"), "--config", config)
    assert code == 2
    assert "error: evaluation.judge: http://127.0.0.1:9/v1/chat/completions unreachable after 1 tries" in out
    assert not (tmp_path / "metrics.json").exists() and _left_behind(project[0]) == []
