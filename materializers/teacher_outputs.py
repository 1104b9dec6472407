"""Stores `TeacherOutputs` (responses with top-k logprobs) as compact Parquet shards + a manifest."""

from __future__ import annotations

import html
import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio

from fastdistill.inference.topk_store import TeacherOutputs
from materializers._files import DirectoryMaterializer


class TeacherOutputsMaterializer(DirectoryMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (TeacherOutputs,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def extract_metadata(self, data: TeacherOutputs) -> dict[str, Any]:
        names = [f.decode() if isinstance(f, bytes) else str(f) for f in fileio.listdir(self.uri)]
        stored = sum(fileio.size(os.path.join(self.uri, f)) or 0 for f in names if f.endswith((".parquet", ".json")))
        tokens = data.num_tokens
        return {
            "rows": len(data.frame),
            "tokens": tokens,
            "bytes_per_token": round(stored / tokens, 2) if tokens else 0.0,
            "teacher": data.meta.teacher,
            "top_k": data.meta.top_k,
            "teacher_tokens_per_s": data.meta.tokens_per_s,
        }

    def save_visualizations(self, data: TeacherOutputs) -> dict[str, VisualizationType]:
        rows = "".join(
            f"<tr><td>{html.escape(str(r.split))}</td><td>{html.escape(r.prompt)}</td>"
            f"<td>{html.escape(r.response_text)}</td><td>{len(r.response_ids)}</td></tr>"
            for r in data.frame.head(50).itertuples()
        )
        page = (
            f"<html><body><h3>Teacher outputs: {len(data.frame)} rows, {data.num_tokens} tokens, "
            f"top-{data.meta.top_k} from {html.escape(data.meta.teacher)}</h3>"
            "<table border=1 cellpadding=4><tr><th>split</th><th>prompt</th><th>teacher response</th><th>tokens</th></tr>"
            f"{rows}</table></body></html>"
        )
        uri = os.path.join(self.uri, "preview.html")
        with fileio.open(uri, "w") as f:
            f.write(page)
        return {uri: VisualizationType.HTML}
