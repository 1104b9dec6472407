"""Helpers the tests share: real servers (PostgreSQL, MLflow) and an unwritable store. Imported as `tests.support`."""

from __future__ import annotations

import os

import pytest


def unavailable(reason: str) -> None:
    """Skip, saying why, where a tool cannot be had; in CI (variable CI set) fail instead: CI must have it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide it (.ci/run installs what `make test` needs)")
    pytest.skip(reason)
