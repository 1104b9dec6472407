"""A copy of the project for tests that run `run.py` as a user would, so what a run leaves behind is visible."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ["run.py", "fastdistill", "steps", "pipelines", "materializers", "configs", "data"]


def copy_project(dest: Path) -> Path:
    """The code, configs and seed data of the project in `dest`; no state (.zen, .fastdistill, reports)."""
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest
