"""Whether a process recorded earlier still runs: by pid and start time, since a pid alone is reused."""

from __future__ import annotations


def process_started(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None when there is no such process."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def still_running(pid: int, started: float | None) -> bool:
    """Whether `pid` is the process that started at `started` (a reused pid started later)."""
    now = process_started(pid)
    return now is not None and (started is None or abs(now - started) < 1.0)
