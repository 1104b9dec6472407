"""The preflight's checks of output locations and the MLflow store (fastdistill.infra.preflight), on real files.

Tests run as root here, and root may write anything its permission bits
forbid; an immutable file or directory (`chattr +i`) is what stays
unwritable for root too, so those cases need `chattr` and are skipped,
saying so, where it is not allowed.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from fastdistill.infra.preflight import (
    PreflightError,
    check_output_dir,
    check_output_file,
    check_tracking_store,
)


@contextmanager
def _immutable(path: Path):
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not allowed here: cannot make a path unwritable for root")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


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
    with _immutable(locked), pytest.raises(PreflightError, match=r"its directory .*locked is not writable by this user"):
        check_output_file(locked / "metrics.json")
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
    with _immutable(db), pytest.raises(PreflightError, match=rf"^MLflow store {db} cannot be written \(attempt to "
                                                            r"write a readonly database\); make it writable"):
        check_tracking_store(f"sqlite:///{db}")
