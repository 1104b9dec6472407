"""A teacher's shape known before any model is loaded: its layer count and its chat template's length.

Config validation uses them to refuse a student with more layers than the
teacher, or a `training.max_length` no example can fit, before a run spends
minutes on synthesis and teacher inference. Only what is cheap is read: the
tiny spec itself, a directory's `config.json`, the packaged GGUF's metadata,
and a tokenizer (never weights). Specs whose shape would need a download or
a registry load (hub ids, `models:/`) give None and are checked at run time.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from fastdistill.models.packaged import gguf_path, tokenizer_dir
from fastdistill.models.sources import _TINY, _kind, cache_dir_or_default
from fastdistill.models.tiny import DEFAULT_LAYERS, TOKENIZER_SOURCE


@lru_cache(maxsize=16)
def teacher_layers(spec: str) -> int | None:
    """The number of decoder layers of `spec`, or None when it cannot be known without loading the model."""
    try:
        return _layers(spec)
    except (OSError, ValueError, RuntimeError, KeyError):  # unreadable here: the run itself will say why
        return None


def _layers(spec: str) -> int | None:
    kind = _kind(spec)
    if kind == "tiny":
        return int(_TINY.fullmatch(spec)["layers"] or DEFAULT_LAYERS)
    if kind == "directory":
        return json.loads((Path(spec) / "config.json").read_text()).get("num_hidden_layers")
    if kind == "packaged":
        return _gguf_block_count(gguf_path(spec.removeprefix("packaged:")))
    return None


def _gguf_block_count(path: Path) -> int | None:
    """`<architecture>.block_count` from the GGUF header (memory-mapped; no tensor is read)."""
    from gguf import GGUFReader

    fields = GGUFReader(path).fields
    architecture = _gguf_value(fields.get("general.architecture"))
    count = _gguf_value(fields.get(f"{architecture}.block_count"))
    return int(count) if count is not None else None


def _gguf_value(field):
    if field is None:
        return None
    value = field.parts[field.data[0]]
    return bytes(value).decode() if field.types and field.types[0].name == "STRING" else value[0]


@lru_cache(maxsize=16)
def chat_template_tokens(spec: str) -> int | None:
    """Tokens the teacher's chat template adds around an empty user prompt; None when its tokenizer is not at hand."""
    from fastdistill.inference.chat import encode_chat_prompt, load_tokenizer

    try:
        directory = _tokenizer_source(spec)
        return None if directory is None else len(encode_chat_prompt(load_tokenizer(directory), ""))
    except (OSError, ValueError, RuntimeError, KeyError):  # no tokenizer at hand: the run itself will say why
        return None


def _tokenizer_source(spec: str) -> Path | None:
    kind = _kind(spec)
    if kind == "directory":
        return Path(spec)
    if kind in ("tiny", "packaged"):  # tiny models use the packaged tokenizer
        name = TOKENIZER_SOURCE if kind == "tiny" else spec.removeprefix("packaged:")
        return tokenizer_dir(name, cache_dir_or_default(None))
    return None


def vocabulary_mismatch(teacher: str, student: str) -> str | None:
    """Why a given student's tokenizer is not the teacher's (token-level KD needs the same), or None.

    None too when either tokenizer is not at hand without a download; the vocabulary guard then decides
    when the models load.
    """
    from fastdistill.inference.chat import load_tokenizer
    from fastdistill.models.vocab import vocab_sha256

    try:
        sources = _tokenizer_source(teacher), _tokenizer_source(student)
        if None in sources:
            return None
        ours, theirs = (load_tokenizer(source) for source in sources)
    except (OSError, ValueError, RuntimeError, KeyError):  # no tokenizer at hand: the run itself will say why
        return None
    if vocab_sha256(ours) == vocab_sha256(theirs):
        return None
    return (f"its tokenizer ({len(theirs)} tokens) is not the teacher {teacher}'s ({len(ours)} tokens): token-level "
            "distillation needs the same tokenizer; pick a student of the teacher's family or set student.num_layers")
