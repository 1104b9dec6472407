"""Fixtures shared by the unit tests of the run config."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def seeds(tmp_path, monkeypatch) -> Path:
    """Two valid seed rows in the working directory: validation reads the seeds file itself."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "seeds.jsonl"
    path.write_text('{"id": "a", "category": "c", "prompt": "p", "reference": "r"}\n'
                    '{"id": "b", "category": "c", "prompt": "q", "reference": "s"}\n')
    return path
