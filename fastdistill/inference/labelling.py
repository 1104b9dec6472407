"""The teacher's labelling run: every gated prompt answered with top-k logprobs, written as resumable shards."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from fastdistill.config import TeacherConfig
from fastdistill.inference.topk_store import (
    SELF_CONSISTENCY_COLUMNS,
    SHARD_ROWS,
    TeacherMeta,
    TeacherOutputs,
    shard_name,
    write_manifest,
    write_shard,
)
from fastdistill.inference.types import Backend
from fastdistill.models import vocab_sha256
from fastdistill.synthesis import rationales


def tokenizer_sha256(backend: Backend) -> str:
    """Fingerprint of the vocabulary, so a store is never reused with a different tokenizer."""
    return vocab_sha256(backend.tokenizer)  # the same fingerprint the training-time vocabulary guard compares


def _meta(backend: Backend, config: TeacherConfig) -> TeacherMeta:
    return TeacherMeta(
        teacher=config.model,
        top_k=config.top_k,
        temperature=config.temperature,
        max_new_tokens=config.max_new_tokens,
        tokenizer_sha256=tokenizer_sha256(backend),
        vocab_size=len(backend.tokenizer),
        seconds=round(backend.stats.seconds, 3),
        tokens_per_s=round(backend.stats.tokens_per_s, 2),
    )


def label(backend: Backend, rows: pd.DataFrame, config: TeacherConfig) -> TeacherOutputs:
    """Run the teacher on every row's prompt, keeping top-k logprobs per response token."""
    prompts = rows["prompt"].tolist()
    if config.rationales:
        prompts = [rationales.with_instruction(p) for p in prompts]
    gens = backend.generate(
        prompts,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        temperature=config.temperature,
        top_k_logprobs=config.top_k,
        desc="teacher inference",
    )
    frame = rows[["id", "split", "category", "prompt", "reference", *_voted(rows)]].reset_index(drop=True).copy()
    frame["prompt_ids"] = [g.prompt_ids for g in gens]
    frame["response_ids"] = [g.response_ids for g in gens]
    frame["response_text"] = [g.text for g in gens]
    frame["topk_ids"] = [g.topk_ids for g in gens]
    frame["topk_logprobs"] = [g.topk_logprobs for g in gens]
    if config.rationales:
        _fill_from_replies(frame, [g.text for g in gens])
    return TeacherOutputs(frame, _meta(backend, config))


def _voted(rows: pd.DataFrame) -> list[str]:
    """Synthesis' self-consistency columns present on `rows`: the majority rationale, its answer, the vote share."""
    return [c for c in SELF_CONSISTENCY_COLUMNS if c in rows.columns]


def _fill_from_replies(frame: pd.DataFrame, texts: list[str]) -> None:
    """Rationale and answer parsed from the teacher's own reply, where synthesis left no majority vote.

    A majority over several samples is the better label than one greedy reply, so a voted row keeps its vote.
    """
    parsed = [rationales.split_rationale(t) for t in texts]
    voted = (frame["rationale"].map(lambda v: isinstance(v, str)) if {"rationale", "answer"} <= set(frame.columns)
             else pd.Series(False, frame.index))
    frame["rationale"] = [frame.at[i, "rationale"] if voted[i] else p[0] for i, p in zip(frame.index, parsed)]
    frame["answer"] = [frame.at[i, "answer"] if voted[i] else p[1] for i, p in zip(frame.index, parsed)]


def work_fingerprint(rows: pd.DataFrame, config: TeacherConfig, backend: Backend) -> str:
    """Names a labelling job: the same prompts, teacher settings and tokenizer resume the same shards."""
    payload = json.dumps([rows[["id", "prompt", *_voted(rows)]].values.tolist(), config.model_dump(mode="json"),
                          tokenizer_sha256(backend)], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def label_sharded(
    backend: Backend,
    rows: pd.DataFrame,
    config: TeacherConfig,
    work_dir: Path,
    shard_rows: int = SHARD_ROWS,
    on_shard: Callable[[int, Path], None] | None = None,
) -> TeacherOutputs:
    """`label`, one shard of `shard_rows` prompts at a time, each written atomically to `work_dir`.

    A restart with the same work list skips the shards already on disk, so a
    killed run loses at most the shard in flight and never duplicates a row.
    `work_dir` holds an unfinished job only: once the outputs are loaded it is
    removed (finished results are ZenML's artifacts, and `--no-cache` means
    the teacher really runs again).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    rows = rows.reset_index(drop=True)
    meta, names = None, []
    for index, start in enumerate(range(0, len(rows), shard_rows)):
        path = work_dir / shard_name(index)
        names.append(path.name)
        if path.exists():
            continue
        outputs = label(backend, rows.iloc[start : start + shard_rows], config)
        meta = outputs.meta
        write_shard(outputs.frame, meta, path)
        if on_shard is not None:
            on_shard(index, path)
    meta = meta or _meta(backend, config)
    write_manifest(work_dir, meta, names)
    outputs = TeacherOutputs.load(work_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    return outputs
