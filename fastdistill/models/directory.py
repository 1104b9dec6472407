"""Artifact types that the project's materializers know how to store."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ModelDirectory:
    """A saved transformers model (weights, config, tokenizer) plus what produced it."""

    path: Path
    info: dict = field(default_factory=dict)

    INFO_FILE = "fastdistill_model.json"

    @property
    def num_bytes(self) -> int:
        return sum(f.stat().st_size for f in Path(self.path).rglob("*") if f.is_file())

    def write_info(self) -> None:
        (Path(self.path) / self.INFO_FILE).write_text(json.dumps(self.info, indent=2, default=str))

    @classmethod
    def read(cls, path: Path) -> ModelDirectory:
        info_file = Path(path) / cls.INFO_FILE
        return cls(Path(path), json.loads(info_file.read_text()) if info_file.exists() else {})


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def weights_sha256(model_dir: Path) -> str:
    """sha256 over a model directory's weight files (names and bytes, in name order): two directories with the
    same weights get the same digest, whatever else (configs, model cards) they hold."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(model_dir).rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES):
        digest.update(path.relative_to(model_dir).as_posix().encode())
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
