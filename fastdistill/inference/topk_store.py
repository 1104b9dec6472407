"""The teacher's outputs: response tokens with their top-k logprobs.

One row per prompt. Per response token the teacher's top-k token ids and
their log-probabilities (at temperature 1, unnormalised over the top-k) are
kept, so every training trial can rebuild soft targets without running the
teacher again.

On disk (schema 2) a store is a directory of Parquet shards (zstd) plus a
`manifest.json` with the schema version, teacher, temperature, k, tokenizer
hash and quantization scheme:
- token ids use the smallest unsigned integer type that holds the vocabulary
  (uint16 for SmolLM2's 49,152 tokens);
- logprobs are quantized on a uniform grid of -logprob with step 1/16 nat
  and stored, per token, as uint8 differences between consecutive ranks
  (the top-k is in rank order, so the grid codes only grow). Small deltas
  compress far better than absolute codes. The reconstruction error is at
  most 1/32 nat per logprob (3.2% relative in probability), about 1/64 on
  average; only a gap of more than 255/16 = 15.9 nats between two adjacent
  ranks (or below the top-1) is clipped, which shifts the ranks below it.
In memory, `topk_ids` are int64 and `topk_logprobs` float32 [len, k] arrays.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 2
LOGPROB_STEP = 1.0 / 16.0
SHARD_ROWS = 256
ZSTD_LEVEL = 19  # written once, read by every trial; level 19 vs 9: 2.46 vs 2.52 bytes per kept logit at k=64

COLUMNS = (
    "id", "split", "category", "prompt", "reference",
    "prompt_ids", "response_ids", "response_text", "topk_ids", "topk_logprobs",
)
OPTIONAL_TEXT_COLUMNS = ("rationale", "answer")  # present when the teacher ran in rationale mode or synthesis voted
OPTIONAL_FLOAT_COLUMNS = ("agreement",)  # self-consistency's majority share (NaN: the row was not voted on)
SELF_CONSISTENCY_COLUMNS = (*OPTIONAL_TEXT_COLUMNS, *OPTIONAL_FLOAT_COLUMNS)
# A chat row's conversation (JSON turns; `prompt` holds it rendered with the teacher's template), for readers that
# want the turns without the template's markup, such as the judge.
CONVERSATION_COLUMNS = ("messages",)


@dataclass(frozen=True)
class TeacherMeta:
    teacher: str
    top_k: int
    temperature: float
    max_new_tokens: int
    tokenizer_sha256: str
    vocab_size: int = 0  # 0: unknown, ids stored as uint32
    schema_version: int = SCHEMA_VERSION
    seconds: float = 0.0
    tokens_per_s: float = 0.0

    def identity(self) -> dict:
        """What the outputs are: every field but the timings, which differ on every rerun of the same work."""
        return {k: v for k, v in self.__dict__.items() if k not in ("seconds", "tokens_per_s")}


@dataclass
class TeacherOutputs:
    """Rows of `COLUMNS`; `topk_ids`/`topk_logprobs` are [response_len, k] arrays per row."""

    frame: pd.DataFrame
    meta: TeacherMeta
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.frame.columns]
        if missing:
            raise ValueError(f"teacher outputs are missing column(s) {missing}")

    @property
    def num_tokens(self) -> int:
        return int(self.frame["response_ids"].map(len).sum())

    def split(self, name: str) -> TeacherOutputs:
        rows = self.frame[self.frame["split"] == name].reset_index(drop=True)
        return TeacherOutputs(rows, self.meta, dict(self.extra))

    def save(self, directory: Path, shard_rows: int = SHARD_ROWS) -> None:
        """Write shards and the manifest; each file appears whole (written aside, then renamed)."""
        directory.mkdir(parents=True, exist_ok=True)
        shards = []
        for index, start in enumerate(range(0, max(len(self.frame), 1), shard_rows)):
            name = shard_name(index)
            write_shard(self.frame.iloc[start : start + shard_rows], self.meta, directory / name)
            shards.append(name)
        write_manifest(directory, self.meta, shards, self.extra)

    @classmethod
    def load(cls, directory: Path) -> TeacherOutputs:
        manifest = read_manifest(directory)
        meta = TeacherMeta(**manifest["meta"])
        frames = [read_shard(directory / name, meta) for name in manifest["shards"]]
        return cls(pd.concat(frames, ignore_index=True), meta, manifest.get("extra", {}))


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds every token id."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if 0 < vocab_size <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.uint32)


def quantize_logprobs(logprobs: np.ndarray) -> np.ndarray:
    """uint8 deltas of grid codes along the last (rank) axis; logprobs must be in descending rank order."""
    codes = np.rint(-np.asarray(logprobs, np.float64) / LOGPROB_STEP).astype(np.int64).clip(min=0)
    deltas = np.diff(codes, axis=-1, prepend=0)
    if (deltas < 0).any():
        raise ValueError("top-k logprobs must be in descending order along the last axis to be stored")
    return deltas.clip(max=255).astype(np.uint8)


def dequantize_logprobs(deltas: np.ndarray) -> np.ndarray:
    return -(np.cumsum(np.asarray(deltas, np.int64), axis=-1) * LOGPROB_STEP).astype(np.float32)


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def write_shard(rows: pd.DataFrame, meta: TeacherMeta, path: Path) -> None:
    data = shard_bytes(rows, meta)
    _atomic_write(path, lambda tmp: tmp.write_bytes(data))


def read_shard(path: Path, meta: TeacherMeta) -> pd.DataFrame:
    return shard_frame(path.read_bytes(), meta)


def shard_bytes(rows: pd.DataFrame, meta: TeacherMeta) -> bytes:
    """One shard's Parquet file, as bytes (a shard may go to any file system)."""
    ids = id_dtype(meta.vocab_size)
    # Missing text (None, or NaN after pandas) is stored as null.
    text = ("id", "split", "category", "prompt", "reference", "response_text")
    text += tuple(c for c in (*OPTIONAL_TEXT_COLUMNS, *CONVERSATION_COLUMNS) if c in rows.columns)
    columns = {c: pa.array([None if pd.isna(v) else str(v) for v in rows[c]], pa.string()) for c in text}
    for c in (c for c in OPTIONAL_FLOAT_COLUMNS if c in rows.columns):
        columns[c] = pa.array([None if pd.isna(v) else float(v) for v in rows[c]], pa.float64())
    # Token arrays as raw little-endian bytes: Parquet has no 8/16-bit physical types and would widen them to int32.
    for c in ("prompt_ids", "response_ids", "topk_ids"):
        columns[c] = [np.asarray(v).astype(ids.newbyteorder("<")).tobytes() for v in rows[c]]
    columns["topk_logprobs"] = [quantize_logprobs(np.asarray(v).reshape(-1, meta.top_k)).tobytes() for v in rows["topk_logprobs"]]
    table = pa.table({c: v if isinstance(v, pa.Array) else pa.array(v, pa.binary()) for c, v in columns.items()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", compression_level=ZSTD_LEVEL)
    return sink.getvalue().to_pybytes()


def shard_frame(data: bytes, meta: TeacherMeta) -> pd.DataFrame:
    """The rows of a shard's Parquet bytes, arrays decoded."""
    frame = pq.read_table(pa.BufferReader(data)).to_pandas()
    k, ids = meta.top_k, id_dtype(meta.vocab_size).newbyteorder("<")
    frame["topk_ids"] = frame["topk_ids"].map(lambda b: np.frombuffer(b, ids).astype(np.int64).reshape(-1, k))
    frame["topk_logprobs"] = frame["topk_logprobs"].map(lambda b: dequantize_logprobs(np.frombuffer(b, np.uint8).reshape(-1, k)))
    for c in ("prompt_ids", "response_ids"):
        frame[c] = frame[c].map(lambda b: np.frombuffer(b, ids).astype(np.int64).tolist())
    for c in ("reference", *OPTIONAL_TEXT_COLUMNS, *CONVERSATION_COLUMNS):  # missing text reads back as None, not NaN
        if c in frame.columns:
            frame[c] = pd.Series([None if pd.isna(v) else v for v in frame[c]], index=frame.index, dtype=object)
    return frame[list(COLUMNS) + [c for c in (*SELF_CONSISTENCY_COLUMNS, *CONVERSATION_COLUMNS) if c in frame.columns]]


def write_manifest(directory: Path, meta: TeacherMeta, shards: list[str], extra: dict | None = None) -> None:
    manifest = {
        "meta": asdict(meta), "shards": shards, "extra": extra or {},
        "quantization": {"logprobs": f"uint8 rank-to-rank deltas of round(-logprob / {LOGPROB_STEP})",
                         "ids": str(id_dtype(meta.vocab_size))},
    }
    _atomic_write(directory / "manifest.json", lambda tmp: tmp.write_text(json.dumps(manifest, indent=2)))


def read_manifest(directory: Path) -> dict:
    path = directory / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no manifest.json; not a teacher-outputs store")
    manifest = json.loads(path.read_text())
    version = manifest.get("meta", {}).get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {version} is not the supported {SCHEMA_VERSION}")
    return manifest
