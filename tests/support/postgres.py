"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl on a temporary directory, loopback only.

The MLflow registry on the cluster sits on PostgreSQL (RDS, Cloud SQL), so the
registry tests run on it too. PostgreSQL refuses to run as root: when the tests
run as root, initdb, the server and pg_ctl run as `nobody` in a directory that
user owns. The server listens on 127.0.0.1 only (its unix socket stays in that
directory), trusts local connections, and is stopped and deleted at teardown.
MLflow's schema is created once in a template database, so a fresh database
for a test module is a file copy (`CREATE DATABASE ... TEMPLATE`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

BINARIES = ("initdb", "pg_ctl", "postgres")
TEMPLATE = "mlflow_template"


def find_bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: on PATH, or Debian's /usr/lib/postgresql/<version>/bin.

    Symlinks are resolved: pg_ctl finds `postgres` beside its own real path.
    """
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: _version(Path(p).parent.name), reverse=True)
    for directory in candidates + [Path(p) for p in versions]:
        if all((directory / name).is_file() for name in BINARIES):
            return directory
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Postgres:
    """A running cluster; `uri(db)` is a SQLAlchemy URL MLflow takes as its backend store."""

    bin_dir: Path
    root: Path
    port: int
    user: str | None  # the OS user the server runs as (None: this process's)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def uri(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """A PostgreSQL binary run as the cluster's owner; its output goes into the error when it fails."""
        kwargs = {}
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        out = subprocess.run([str(self.bin_dir / args[0]), *args[1:]], cwd=self.root, capture_output=True, text=True,
                             timeout=timeout, check=False, env={**os.environ, "LC_ALL": "C"}, **kwargs)
        if out.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({out.returncode}): {out.stdout[-2000:]}{out.stderr[-2000:]}")
        return out

    def execute(self, sql: str) -> None:
        """One statement outside a transaction (CREATE/DROP DATABASE need that), on the maintenance database."""
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def create_database(self, name: str) -> str:
        """A fresh database holding MLflow's current schema and nothing else; its URI."""
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
        return self.uri(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # FORCE: a test's client may still hold one

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def start(bin_dir: Path) -> Postgres:
    """initdb a cluster in a new temporary directory, start it on a free loopback port, make the MLflow template."""
    root = Path(tempfile.mkdtemp(prefix="fastdistill-pg-"))
    user = None
    if os.geteuid() == 0:  # PostgreSQL will not run as root: hand the directory to an unprivileged user
        user = "nobody"
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = Postgres(bin_dir, root, 0, user)
    try:
        cluster._run("initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                     "--no-locale", "--no-sync")
        for attempt in range(3):  # a free port may be taken between the probe and the bind (two xdist workers)
            cluster.port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {root} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            try:
                cluster._run("pg_ctl", "-D", str(cluster.data), "-l", str(root / "server.log"), "-o", options,
                             "-w", "-t", "120", "start")
                break
            except RuntimeError:
                if attempt == 2:
                    raise RuntimeError(f"PostgreSQL did not start: {(root / 'server.log').read_text()[-3000:]}")
        cluster.execute(f"CREATE DATABASE {TEMPLATE}")
        _create_mlflow_schema(cluster.uri(TEMPLATE))
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _create_mlflow_schema(uri: str) -> None:
    """MLflow's tables and migrations, in a subprocess so that no connection stays open on the template."""
    code = "import sys; from mlflow.tracking import MlflowClient; MlflowClient(sys.argv[1]).search_experiments()"
    out = subprocess.run([sys.executable, "-c", code, uri], capture_output=True, text=True, timeout=600, check=False,
                         env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise RuntimeError(f"creating MLflow's schema in {uri} failed: {out.stderr[-3000:]}")
