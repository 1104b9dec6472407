"""How many parameters a model spec has, read from its config alone: nothing is downloaded or loaded.

The Kubernetes placement check (`fastdistill.infra.capacity`) multiplies
these counts by the bytes per parameter of the dtype each step loads the model
in. The count is exact for any architecture transformers knows: the model is
built on PyTorch's `meta` device (shapes, no storage) and its unique
parameters are summed, so tied embeddings count once.

Where the config comes from, by spec form: a local directory's config.json;
the packaged GGUF's metadata (a cached conversion's config.json when there is
one); a tiny test model's recipe; a hub id's config.json only if it is already
in the local hub cache. A registry version (`models:/NAME/VERSION`) or an
uncached hub id has no config here: `UnknownSize` says so, and the caller
decides (the dry run shows the size as unknown rather than guessing).
"""

from __future__ import annotations

import copy
from pathlib import Path

from fastdistill.models.sources import (
    cache_dir_or_default,
    spec_kind,
    tiny_name_and_layers,
)


class UnknownSize(LookupError):
    """A spec whose config cannot be read without downloading or loading it; the message says why."""


def model_config(spec: str, cache_dir: Path | None = None):
    """The transformers config of `spec`, from local files only."""
    from transformers import AutoConfig

    kind, cache = spec_kind(spec), cache_dir_or_default(cache_dir)
    if kind == "directory":
        return AutoConfig.from_pretrained(Path(spec))
    if kind == "packaged":
        return _packaged_config(spec.removeprefix("packaged:"), cache)
    if kind == "tiny":
        from fastdistill.models.tiny import tiny_model_dir

        return AutoConfig.from_pretrained(tiny_model_dir(*_tiny(spec, cache)))
    if kind == "hub":
        return _cached_hub_config(spec, cache)
    raise UnknownSize(f"{spec}: a registry version's size is only known once it is fetched, at run time")


def _tiny(spec: str, cache: Path) -> tuple[str, Path, int]:
    name, layers = tiny_name_and_layers(spec)
    return name, cache, layers


def _packaged_config(name: str, cache: Path):
    from transformers import AutoConfig

    from fastdistill.models.packaged import gguf_path

    converted = cache / "models" / name / "config.json"
    if converted.is_file():
        return AutoConfig.from_pretrained(converted.parent)
    path = gguf_path(name)
    return AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)  # the GGUF header, no tensors


def _cached_hub_config(spec: str, cache: Path):
    from huggingface_hub import try_to_load_from_cache
    from transformers import AutoConfig

    for hub_cache in (cache / "hub", None):  # where resolve_model downloads to, then the default hub cache
        found = try_to_load_from_cache(spec, "config.json", cache_dir=hub_cache)
        if isinstance(found, str):
            return AutoConfig.from_pretrained(Path(found).parent)
    raise UnknownSize(f"{spec}: its config.json is not in the local hub cache (nothing is downloaded to estimate)")


def parameter_count(config) -> int:
    """Unique parameters of the causal LM `config` describes, counted on the meta device (no memory)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(config)
    if hasattr(config, "quantization_config"):  # a GGUF's: from_config would try to set up its quantizer
        del config.quantization_config
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def with_layers(config, num_layers: int):
    """A copy of `config` with `num_layers` decoder layers: a student built from the teacher by layer selection."""
    student = copy.deepcopy(config)
    student.num_hidden_layers = num_layers
    return student
