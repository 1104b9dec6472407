"""A real `mlflow server` on a free loopback port, in its own process group, stopped with everything it started."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import free_port
from tests.support.process_group import ProcessGroup

START_TIMEOUT_S = 240  # a cold start on a busy 2-core machine imports all of MLflow's server


@dataclass
class MlflowServer(ProcessGroup):
    uri: str
    backend_uri: str
    proc: subprocess.Popen
    log: Path


def start_server(tmp: Path, backend_uri: str, *options: str, env: dict[str, str] | None = None) -> MlflowServer:
    """`mlflow server` on `backend_uri` (artifacts under `tmp`), once it answers /health; its log is `tmp/server.log`.

    `options`: more `mlflow server` options, e.g. `--app-name basic-auth`.
    """
    port = free_port()
    # No job runner: the registry needs none, and it starts three more Python processes.
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           **(env or {})}
    log = tmp / "server.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri, "--artifacts-destination",
             str(tmp / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1", *options],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=tmp, start_new_session=True)
    server = MlflowServer(f"http://127.0.0.1:{port}", backend_uri, proc, log)
    try:
        server.wait_until_answers(server.uri + "/health", "mlflow server", START_TIMEOUT_S)
    except BaseException:
        server.stop()
        raise
    return server


ADMIN, ADMIN_PASSWORD = "admin", "fastdistill-test-admin"  # a throwaway server's login, never a real one


def start_auth_server(tmp: Path, backend_uri: str) -> MlflowServer:
    """`mlflow server --app-name basic-auth`: every API call needs a login (users in `tmp/auth.db`); the admin is
    `ADMIN` / `ADMIN_PASSWORD`, and /health answers without one."""
    config = tmp / "auth.ini"
    config.write_text("[mlflow]\ndefault_permission = READ\n"
                      f"database_uri = sqlite:///{tmp / 'auth.db'}\n"
                      f"admin_username = {ADMIN}\nadmin_password = {ADMIN_PASSWORD}\n"
                      "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    # The auth app's forms need a CSRF secret; a fixed one is fine for a server that lives as long as a test module.
    return start_server(tmp, backend_uri, "--app-name", "basic-auth",
                        env={"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_FLASK_SERVER_SECRET_KEY": "tests-only"})
