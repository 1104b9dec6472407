"""The teacher's outputs: response tokens with their top-k logprobs.

One row per prompt. Per response token the teacher's top-k token ids and
their log-probabilities (at temperature 1, unnormalised over the top-k) are
kept, so every training trial can rebuild soft targets without running the
teacher again. Stored as a Parquet file with list columns plus a JSON header.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 1

COLUMNS = (
    "id", "split", "category", "prompt", "reference",
    "prompt_ids", "response_ids", "response_text", "topk_ids", "topk_logprobs",
)


@dataclass(frozen=True)
class TeacherMeta:
    teacher: str
    top_k: int
    temperature: float
    max_new_tokens: int
    tokenizer_sha256: str
    schema_version: int = SCHEMA_VERSION
    seconds: float = 0.0
    tokens_per_s: float = 0.0


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

    def split(self, name: str) -> "TeacherOutputs":
        rows = self.frame[self.frame["split"] == name].reset_index(drop=True)
        return TeacherOutputs(rows, self.meta, dict(self.extra))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(_to_lists(self.frame), preserve_index=False)
        pq.write_table(table, directory / "rows.parquet", compression="zstd")
        header = {"meta": asdict(self.meta), "extra": self.extra}
        (directory / "meta.json").write_text(json.dumps(header, indent=2))

    @classmethod
    def load(cls, directory: Path) -> "TeacherOutputs":
        header = json.loads((directory / "meta.json").read_text())
        if header["meta"].get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"{directory}/meta.json: schema_version {header['meta'].get('schema_version')} "
                f"is not the supported {SCHEMA_VERSION}"
            )
        frame = pq.read_table(directory / "rows.parquet").to_pandas()
        return cls(_to_arrays(frame, header["meta"]["top_k"]), TeacherMeta(**header["meta"]), header["extra"])


def _to_lists(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in ("topk_ids", "topk_logprobs"):
        out[col] = out[col].map(lambda a: np.asarray(a).reshape(-1).tolist())
    out["topk_ids"] = out["topk_ids"].map(lambda a: np.asarray(a, dtype=np.int32))
    out["topk_logprobs"] = out["topk_logprobs"].map(lambda a: np.asarray(a, dtype=np.float32))
    for col in ("prompt_ids", "response_ids"):
        out[col] = out[col].map(lambda a: np.asarray(a, dtype=np.int32))
    return out


def _to_arrays(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    out = frame.copy()
    out["topk_ids"] = out["topk_ids"].map(lambda a: np.asarray(a, dtype=np.int64).reshape(-1, k))
    out["topk_logprobs"] = out["topk_logprobs"].map(lambda a: np.asarray(a, dtype=np.float32).reshape(-1, k))
    for col in ("prompt_ids", "response_ids"):
        out[col] = out[col].map(lambda a: [int(x) for x in a])
    return out
