"""Copying directories between local disk and any ZenML artifact store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer


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


class DirectoryMaterializer(BaseMaterializer):
    """Base for artifact types stored as a directory: `data.save(path)` writes one, `Type.load(path)` reads it."""

    SKIP_REGISTRATION: ClassVar[bool] = True  # a base: only its subclasses name the types they store

    def save(self, data: Any) -> None:
        with tempfile.TemporaryDirectory() as local:
            data.save(Path(local))
            upload_dir(Path(local), self.uri)

    def load(self, data_type: type[Any]) -> Any:
        with tempfile.TemporaryDirectory() as local:
            download_dir(self.uri, Path(local))
            # Not `data_type`: a step may ask for a base class (a PromptDataset read as a pandas DataFrame).
            return self.ASSOCIATED_TYPES[0].load(Path(local))
