"""`PromptDataset`: the candidate, gated and quarantine tables as a DataFrame subclass.

Being a DataFrame, it goes wherever one is expected (teacher inference reads
the gated prompts unchanged); being its own type, ZenML stores it with the
project's materializer (Parquet, metadata, HTML preview) instead of the
generic pandas one. `kind` and the rejection histogram travel in `attrs`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fastdistill.gate.quality import reason_counts
from fastdistill.reporting.templating import render


class PromptDataset(pd.DataFrame):
    # Operations return plain DataFrames: only what a step returns on purpose is a PromptDataset.
    @property
    def _constructor(self):
        return pd.DataFrame

    @classmethod
    def of(cls, frame: pd.DataFrame, kind: str, rejections: dict[str, int] | None = None) -> PromptDataset:
        out = cls(frame.reset_index(drop=True))
        out.attrs = {"kind": kind, "rejections": dict(rejections or {})}
        return out

    @property
    def kind(self) -> str:
        return self.attrs.get("kind", "dataset")

    def summary(self) -> dict:
        """What the dashboard shows without loading the data: rows per source/operator/split, lengths, rejections."""
        counts = {f"rows_per_{col}": _value_counts(self, col) for col in ("source", "operator", "split")}
        if "reasons" in self:
            counts["rejections"] = reason_counts(self)
        elif self.attrs.get("rejections"):
            counts["rejections"] = self.attrs["rejections"]
        lengths = pd.to_numeric(self["prompt_tokens"], errors="coerce").dropna() if "prompt_tokens" in self else pd.Series(dtype=float)
        stats = {f"prompt_tokens_{k}": round(float(v), 2) for k, v in lengths.describe()[["mean", "min", "50%", "max"]].items()} if len(lengths) else {}
        return {"kind": self.kind, "rows": len(self), **counts, **stats}

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(pd.DataFrame(self), preserve_index=False)
        pq.write_table(table, directory / "data.parquet", compression="zstd")
        (directory / "attrs.json").write_text(json.dumps(self.attrs, default=str))

    @classmethod
    def load(cls, directory: Path) -> PromptDataset:
        frame = pq.read_table(directory / "data.parquet").to_pandas()
        attrs = json.loads((directory / "attrs.json").read_text()) if (directory / "attrs.json").exists() else {}
        return cls.of(frame, attrs.get("kind", "dataset"), attrs.get("rejections"))

    def preview_html(self, rows: int = 50) -> str:
        """The summary and the first `rows` rows as an HTML page (templates/dataset_preview.html.j2)."""
        columns = [c for c in ("id", "split", "source", "operator", "category", "prompt_tokens", "prompt", "reasons", "answer")
                   if c in self]
        return render("dataset_preview.html.j2", kind=self.kind, total_rows=len(self), limit=rows, columns=columns,
                      facts={k: json.dumps(v) for k, v in self.summary().items()},
                      rows=[[str(v) for v in row] for row in self[columns].head(rows).itertuples(index=False)])


def _value_counts(frame: pd.DataFrame, column: str) -> dict[str, int]:
    if column not in frame:
        return {}
    return {str(k): int(v) for k, v in frame[column].fillna("none").value_counts().sort_index().items()}

