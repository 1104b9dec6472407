"""Checks that run before any step: where outputs go and the MLflow store a run will write to.

A scheduled pipeline meets these faults unattended, so each is named before
work is spent, in one line that says what and where, and creates nothing:
the checks only look (a SQLite store is opened for a write lock and rolled
back, never written). `run.py distill --dry-run` runs exactly these checks.

- Output locations: a report directory that is a file, an `--output` that
  is a directory, a place that cannot be written (`check_output_dir`,
  `check_output_file`).
- The tracking store (`check_tracking_store`): an http(s) server must answer
  within seconds and have credentials the way the README describes
  (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, or
  MLFLOW_TRACKING_TOKEN), because ZenML's MLflow tracker refuses a remote
  server without them; a SQLite store must be writable; a `file:` store is
  refused, because the model registry needs a database.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import urlparse

PROBE_TIMEOUT_S = 3.0
USERNAME_ENV, PASSWORD_ENV, TOKEN_ENV = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"


class PreflightError(ValueError):
    """Something a run would fail on later; the message names it and what would work."""


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable_dir(path: Path, what: str) -> None:
    """`path` (or, when missing, the directory it would be created in) is a directory this process may write."""
    existing = _nearest_existing(path)
    if not existing.is_dir():
        where = "is a file" if existing == path.absolute() else f"cannot be created: {existing} is a file"
        raise PreflightError(f"{what} {path} {where}, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PreflightError(f"{what} {path}: {existing} is not writable by this user")


def check_output_dir(path: Path, what: str = "--report-dir") -> None:
    """A directory outputs will be written into (created later if missing)."""
    _writable_dir(Path(path), what)


def check_output_file(path: Path, what: str = "--output") -> None:
    """A file that will be written (replaced if it exists)."""
    path = Path(path)
    if path.is_dir():
        raise PreflightError(f"{what} {path} is a directory; name a file, e.g. {path / 'metrics.json'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise PreflightError(f"{what} {path} exists and is not writable")
    _writable_dir(path.parent, f"{what} {path}: its directory")


def check_tracking_store(uri: str, credentials: bool = True) -> None:
    """The MLflow store at `uri` can be reached and written, checked without writing anything.

    `credentials`: a server must have them (ZenML's tracker needs them; reading a model with MLflow alone does not).
    """
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        _check_server(uri, credentials)
    elif scheme == "sqlite":
        _check_sqlite(uri)
    elif scheme in ("file", "") or len(scheme) == 1:  # "" or "C": a bare path is a file store too
        raise PreflightError(f"MLflow tracking URI {uri} is a file store, which has no model registry; use "
                             "sqlite:///PATH/mlflow.db or an http(s) MLflow server")


def _check_server(uri: str, credentials: bool) -> None:
    import requests

    try:
        response = requests.get(uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S)
    except requests.RequestException as err:
        raise PreflightError(f"MLflow at {uri} is unreachable ({type(err).__name__} within {PROBE_TIMEOUT_S:.0f} s); "
                             "start the server or set MLFLOW_TRACKING_URI / --tracking-uri to a reachable one") from None
    if response.status_code >= 500:
        raise PreflightError(f"MLflow at {uri} answered HTTP {response.status_code} on /health")
    if credentials and not remote_credentials():
        raise PreflightError(f"MLflow at {uri} needs credentials: set {USERNAME_ENV} and {PASSWORD_ENV}, "
                             f"or {TOKEN_ENV}")
    if remote_credentials():
        _check_login(uri, requests)


def _check_login(uri: str, requests) -> None:
    """One authenticated read, so wrong credentials are named now rather than by the first step that logs."""
    credentials = remote_credentials()
    auth = (credentials["username"], credentials["password"]) if "username" in credentials else None
    headers = {"Authorization": f"Bearer {credentials['token']}"} if "token" in credentials else {}
    try:
        response = requests.get(uri.rstrip("/") + "/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                                auth=auth, headers=headers, timeout=PROBE_TIMEOUT_S)
    except requests.RequestException as err:
        raise PreflightError(f"MLflow at {uri} stopped answering ({type(err).__name__})") from None
    if response.status_code in (401, 403):
        names = f"{USERNAME_ENV} / {PASSWORD_ENV}" if auth else TOKEN_ENV
        raise PreflightError(f"MLflow at {uri} refused the credentials in {names} (HTTP {response.status_code})")


def remote_credentials() -> dict[str, str]:
    """MLflow's own credential variables, as ZenML's tracker takes them: username and password, or a token."""
    if os.environ.get(USERNAME_ENV) and os.environ.get(PASSWORD_ENV):
        return {"username": os.environ[USERNAME_ENV], "password": os.environ[PASSWORD_ENV]}
    if os.environ.get(TOKEN_ENV):
        return {"token": os.environ[TOKEN_ENV]}
    return {}


def sqlite_path(uri: str) -> Path:
    """The database file of `sqlite:///relative` or `sqlite:////absolute` (relative to the working directory)."""
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


def _check_sqlite(uri: str) -> None:
    path = sqlite_path(uri)
    if path.is_dir():
        raise PreflightError(f"MLflow store {path} is a directory, not a SQLite database file")
    if not path.exists():
        _writable_dir(path.parent, f"MLflow store {path}: its directory")
        return
    _writable_dir(path.parent, f"MLflow store {path}: its directory (SQLite writes a journal beside it)")
    try:
        _probe_write_lock(path)
    except sqlite3.OperationalError as err:
        if "locked" in str(err):  # another writer holds it right now: writable, just busy
            return
        raise PreflightError(f"MLflow store {path} cannot be written ({err}); make it writable or point "
                             "--tracking-uri elsewhere") from None
    except sqlite3.DatabaseError as err:
        raise PreflightError(f"MLflow store {path} is not a SQLite database ({err})") from None


def _probe_write_lock(path: Path) -> None:
    """Write in a transaction and roll it back: fails exactly when a write would (permissions, immutable, read-only).

    Taking the write lock alone is not enough: SQLite grants it on a file it could only open read-only.
    """
    connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=0.5, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("CREATE TABLE main.fastdistill_write_probe (x INTEGER)")
        connection.execute("ROLLBACK")
    finally:
        connection.close()
