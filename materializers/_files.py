"""Copying directories between local disk and any ZenML artifact store."""

from __future__ import annotations

import os
from pathlib import Path

from zenml.io import fileio


def upload_dir(local: Path, remote: str) -> None:
    for file in sorted(Path(local).rglob("*")):
        if file.is_file():
            target = os.path.join(remote, file.relative_to(local).as_posix())
            fileio.makedirs(os.path.dirname(target))
            fileio.copy(str(file), target, overwrite=True)


def download_dir(remote: str, local: Path) -> None:
    for root, _, files in fileio.walk(remote):
        root = root.decode() if isinstance(root, bytes) else str(root)
        for name in files:
            name = name.decode() if isinstance(name, bytes) else str(name)
            relative = os.path.relpath(os.path.join(root, name), remote)
            (local / relative).parent.mkdir(parents=True, exist_ok=True)
            fileio.copy(os.path.join(root, name), str(local / relative), overwrite=True)
