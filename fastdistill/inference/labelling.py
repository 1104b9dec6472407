"""The teacher's labelling run: every gated prompt answered with top-k logprobs, written as resumable shards.

A job's shards and its manifest (`progress.json`: each finished shard's row range, ids and sha256) live
under the active artifact store, keyed by everything that shapes the outputs (`work_identity`), so a
rerun on another machine resumes; a local copy of each shard is the fast path on the same machine.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fastdistill.config import TeacherConfig
from fastdistill.inference.topk_store import (
    LOGPROB_STEP,
    CONVERSATION_COLUMNS,
    SCHEMA_VERSION,
    SELF_CONSISTENCY_COLUMNS,
    TeacherMeta,
    TeacherOutputs,
    shard_bytes,
    shard_frame,
    shard_name,
)
from fastdistill.inference.types import Backend
from fastdistill.infra.durable import DurableDir, artifact_store_dir
from fastdistill.models import teacher_runs_dir, vocab_sha256
from fastdistill.models.directory import weights_sha256
from fastdistill.synthesis import rationales

logger = logging.getLogger(__name__)

INPUT_COLUMNS = ("id", "split", "category", "prompt", "reference")  # copied into the outputs with the answers
SEED = 0  # greedy decoding ignores it; sampling backends are seeded with it
# The files of a teacher directory that shape tokenization and decoding besides the weights.
SETUP_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt",
               "tokenizer.model")
PROGRESS = "progress.json"  # the job's manifest: which shards are complete


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
        seed=SEED,
        desc="teacher inference",
    )
    # A chat row's turns ride along for the judge; its rendered prompt already names the job (`work_identity`).
    conversation = [c for c in CONVERSATION_COLUMNS if c in rows.columns]
    frame = rows[[*INPUT_COLUMNS, *_voted(rows), *conversation]].reset_index(drop=True).copy()
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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rows_sha256(rows: pd.DataFrame) -> str:
    columns = [*INPUT_COLUMNS, *_voted(rows)]
    values = [[None if pd.isna(v) else str(v) for v in row] for row in rows[columns].itertuples(index=False)]
    return _sha256(json.dumps(values).encode())


def work_identity(rows: pd.DataFrame, config: TeacherConfig, backend: Backend, model_dir: Path) -> dict:
    """Everything that shapes a labelling job's shards: the rows in order, the teacher (spec and every
    setting, its weights as the registry fingerprints them, tokenizer, chat template, generation config),
    the prompt wrapper, the seed, the store's format and the code's version."""
    setup = {name: _sha256((model_dir / name).read_bytes()) for name in SETUP_FILES if (model_dir / name).is_file()}
    return {
        "rows_sha256": _rows_sha256(rows), "rows": len(rows),
        "teacher": config.model_dump(mode="json"),  # spec, backend, server, top_k, max_new_tokens, temperature, shard_rows...
        "weights_sha256": weights_sha256(model_dir), "setup_files_sha256": setup,
        "vocab_sha256": tokenizer_sha256(backend), "chat_template": getattr(backend.tokenizer, "chat_template", None),
        "instruction": rationales.INSTRUCTION if config.rationales else None, "seed": SEED,
        "store": {"schema_version": SCHEMA_VERSION, "logprob_step": LOGPROB_STEP},
        "versions": {p: _version(p) for p in ("fastdistill", "transformers", "torch", "vllm")},
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def work_fingerprint(identity: dict) -> str:
    """Names a labelling job (`work_identity`): its local cache folder and its folder in the artifact store."""
    return _sha256(json.dumps(identity, sort_keys=True).encode())[:16]


@dataclass(frozen=True)
class ShardDirs:
    """Where a labelling job keeps its shards: `durable` holds the truth (shards and the job's manifest),
    `cache` is a local fast path checked against the manifest's checksums (None: no cache)."""

    durable: DurableDir
    cache: DurableDir | None = None
    identity: dict = field(default_factory=dict)

    def clear(self) -> None:
        self.durable.clear()
        if self.cache is not None:
            self.cache.clear()


def shard_dirs(rows: pd.DataFrame, config: TeacherConfig, backend: Backend, model_dir: Path) -> ShardDirs:
    """The job's folder under the active ZenML artifact store (survives the pod) and in the local cache."""
    identity = work_identity(rows, config, backend, model_dir)
    key = work_fingerprint(identity)
    return ShardDirs(artifact_store_dir("teacher_shards", key), DurableDir(str(teacher_runs_dir() / key)), identity)


def label_sharded(
    backend: Backend,
    rows: pd.DataFrame,
    config: TeacherConfig,
    dirs: ShardDirs,
    on_shard: Callable[[int, str], None] | None = None,
) -> TeacherOutputs:
    """`label`, `config.shard_rows` prompts at a time; each shard is stored before the manifest lists it.

    Shard i always holds rows [i * shard_rows, (i + 1) * shard_rows), so a rerun skips the shards the
    manifest lists (read from the local cache when a copy there has the listed checksum, else from
    `dirs.durable`) and recomputes the rest, overwriting any shard a crash left unlisted: every row
    exactly once. `on_shard(index, source)` is told where each shard came from: "generated",
    "artifact store" or "local cache". The caller clears `dirs` once the outputs are safe elsewhere.
    """
    if rows.empty:
        raise ValueError("teacher inference got no prompts: the quality gate let no row through")
    rows = rows.reset_index(drop=True)
    meta, step = _meta(backend, config), config.shard_rows
    progress = _read_progress(dirs, len(rows), step)
    frames = []
    for index, start in enumerate(range(0, len(rows), step)):
        name, part = shard_name(index), rows.iloc[start : start + step]
        entry = {"start": start, "stop": start + len(part), "ids_sha256": _sha256(json.dumps(part["id"].astype(str).tolist()).encode())}
        data, source = _stored_shard(dirs, name, entry, progress["shards"].get(name))
        if data is None:
            data, source = shard_bytes(label(backend, part, config).frame, meta), "generated"
            if dirs.cache is not None:
                dirs.cache.write_bytes(name, data)
            dirs.durable.write_bytes(name, data)
            progress["shards"][name] = {**entry, "sha256": _sha256(data), "bytes": len(data)}
            dirs.durable.write_bytes(PROGRESS, json.dumps(progress, indent=1).encode())
        frame = shard_frame(data, meta)
        if frame["id"].astype(str).tolist() != part["id"].astype(str).tolist():
            raise ValueError(f"{dirs.durable.path(name)}: holds rows {frame['id'].tolist()[:3]}..., "
                             f"not rows {start}-{start + len(part) - 1} of this job")
        frames.append(frame)
        if on_shard is not None:
            on_shard(index, source)
    return TeacherOutputs(pd.concat(frames, ignore_index=True), _meta(backend, config))


def _read_progress(dirs: ShardDirs, num_rows: int, shard_rows: int) -> dict:
    fresh = {"identity": dirs.identity, "rows": num_rows, "shard_rows": shard_rows, "shards": {}}
    if not dirs.durable.exists(PROGRESS):
        return fresh
    progress = json.loads(dirs.durable.read_bytes(PROGRESS))
    if (progress.get("identity"), progress.get("rows"), progress.get("shard_rows")) != (dirs.identity, num_rows, shard_rows):
        logger.warning("%s belongs to another labelling job; starting over", dirs.durable.path(PROGRESS))
        return fresh
    return progress


def _stored_shard(dirs: ShardDirs, name: str, entry: dict, listed: dict | None) -> tuple[bytes | None, str]:
    """A listed shard's bytes, checked against the manifest: the local copy if it matches, else the durable one."""
    if listed is None or any(listed.get(k) != v for k, v in entry.items()):
        return None, "generated"
    if dirs.cache is not None and dirs.cache.exists(name):
        data = dirs.cache.read_bytes(name)
        if _sha256(data) == listed["sha256"]:
            return data, "local cache"
    data = dirs.durable.read_bytes(name) if dirs.durable.exists(name) else b""
    if _sha256(data) != listed["sha256"]:
        logger.warning("%s is missing or does not match its checksum; labelling its rows again", dirs.durable.path(name))
        return None, "generated"
    if dirs.cache is not None:
        dirs.cache.write_bytes(name, data)
    return data, "artifact store"
