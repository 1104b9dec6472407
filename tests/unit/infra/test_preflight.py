"""The preflight's checks of output locations and the MLflow store (fastdistill.infra.preflight), on real files.

Tests run as root here, and root may write anything its permission bits
forbid: the read-only cases run the check in a subprocess for which the path
really is unwritable (`tests.support.read_only`: without the capabilities
that override permission bits, or `chattr +i`).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastdistill.infra.preflight import (
    PreflightError,
    check_output_dir,
    check_output_file,
    check_tracking_store,
)
from tests.support.read_only import unwritable


ROOT = Path(__file__).resolve().parents[3]

CHECK = """
import sys
from pathlib import Path
from fastdistill.infra import preflight

try:
    getattr(preflight, sys.argv[1])(*sys.argv[2:])
except preflight.PreflightError as err:
    print(err)
    sys.exit(2)
"""


def _check_as(prefix: list[str], check: str, *args: str) -> str:
    """`fastdistill.infra.preflight.<check>(*args)` in a process started with `prefix`; the error it printed."""
    out = subprocess.run([*prefix, sys.executable, "-c", CHECK, check, *args], capture_output=True, text=True,
                         timeout=120, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})  # this checkout's
    assert out.returncode == 2, f"{check}{args} did not refuse ({out.returncode}): {out.stdout}{out.stderr[-2000:]}"
    return out.stdout.strip()


def test_a_report_dir_may_be_missing_but_not_a_file(tmp_path):
    check_output_dir(tmp_path / "reports" / "deeper")  # created later, by the run
    (tmp_path / "reports").write_text("x")
    with pytest.raises(PreflightError, match=rf"^--report-dir {tmp_path / 'reports'} is a file, not a directory$"):
        check_output_dir(tmp_path / "reports")
    with pytest.raises(PreflightError, match=rf"cannot be created: {tmp_path / 'reports'} is a file, not a directory"):
        check_output_dir(tmp_path / "reports" / "sub")
    assert not (tmp_path / "reports" / "deeper").exists()


def test_an_output_file_may_not_be_a_directory_nor_unwritable(tmp_path):
    check_output_file(tmp_path / "new" / "metrics.json")
    with pytest.raises(PreflightError, match=rf"^--output {tmp_path} is a directory; name a file, e.g. "):
        check_output_file(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    with unwritable(locked) as prefix:
        error = _check_as(prefix, "check_output_file", str(locked / "metrics.json"))
    assert error == f"--output {locked / 'metrics.json'}: its directory {locked}: {locked} is not writable by this user"
    assert list(tmp_path.iterdir()) == [locked]


def test_an_unreachable_server_is_named_within_seconds():
    started = time.monotonic()
    with pytest.raises(PreflightError, match=r"^MLflow at http://127.0.0.1:9 is unreachable \(ConnectionError within "
                                             r"3 s\); start the server or set MLFLOW_TRACKING_URI"):
        check_tracking_store("http://127.0.0.1:9")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("uri", ["file:///tmp/mlruns", "/tmp/mlruns", "mlruns"])
def test_a_file_store_is_refused(uri):
    with pytest.raises(PreflightError, match=rf"^MLflow tracking URI {uri} is a file store, which has no model registry"):
        check_tracking_store(uri)


def test_a_sqlite_store_is_checked_without_being_written(tmp_path):
    missing = tmp_path / "new" / "mlflow.db"
    check_tracking_store(f"sqlite:///{missing}")
    assert not missing.parent.exists()  # only looked at
    db = tmp_path / "mlflow.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    before = db.read_bytes()
    check_tracking_store(f"sqlite:///{db}")
    assert db.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(PreflightError, match=r"dir.db is a directory, not a SQLite database file"):
        check_tracking_store(f"sqlite:///{tmp_path / 'dir.db'}")


def test_a_read_only_sqlite_store_is_named(tmp_path):
    db = tmp_path / "mlflow.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    before = db.read_bytes()
    with unwritable(db) as prefix:
        error = _check_as(prefix, "check_tracking_store", f"sqlite:///{db}")
    assert error == (f"MLflow store {db} cannot be written (attempt to write a readonly database); make it writable "
                     "or point --tracking-uri elsewhere")
    assert db.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]
