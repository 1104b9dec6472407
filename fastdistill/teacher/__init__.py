"""Teacher backends and the labelling run that produces `TeacherOutputs`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from fastdistill.config import TeacherConfig
from fastdistill.models import resolve_model
from fastdistill.teacher.hf import Generation, HFBackend, encode_chat_prompt, load_tokenizer
from fastdistill.topk import TeacherMeta, TeacherOutputs

__all__ = ["HFBackend", "Generation", "backend_for", "label", "tokenizer_sha256", "encode_chat_prompt", "load_tokenizer"]


def backend_for(config: TeacherConfig, cache_dir: Path | None = None) -> HFBackend:
    """The backend named in the config, with the teacher resolved to a local directory."""
    if config.backend != "hf":  # more backends (vllm, openai) arrive with the teacher-inference issue
        raise ValueError(f"teacher.backend: '{config.backend}' is not available; choose 'hf'")
    return HFBackend(resolve_model(config.model, cache_dir))


def tokenizer_sha256(backend: HFBackend) -> str:
    """Fingerprint of the vocabulary, so a store is never reused with a different tokenizer."""
    vocab = sorted(backend.tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(vocab).encode()).hexdigest()


def label(backend: HFBackend, rows: pd.DataFrame, config: TeacherConfig) -> TeacherOutputs:
    """Run the teacher on every row's prompt, keeping top-k logprobs per response token."""
    gens = backend.generate(
        rows["prompt"].tolist(),
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        temperature=config.temperature,
        top_k_logprobs=config.top_k,
        desc="teacher inference",
    )
    frame = rows[["id", "split", "category", "prompt", "reference"]].reset_index(drop=True).copy()
    frame["prompt_ids"] = [g.prompt_ids for g in gens]
    frame["response_ids"] = [g.response_ids for g in gens]
    frame["response_text"] = [g.text for g in gens]
    frame["topk_ids"] = [g.topk_ids for g in gens]
    frame["topk_logprobs"] = [g.topk_logprobs for g in gens]
    meta = TeacherMeta(
        teacher=config.model,
        top_k=config.top_k,
        temperature=config.temperature,
        max_new_tokens=config.max_new_tokens,
        tokenizer_sha256=tokenizer_sha256(backend),
        seconds=round(backend.stats.seconds, 3),
        tokens_per_s=round(backend.stats.tokens_per_s, 2),
    )
    return TeacherOutputs(frame, meta)
