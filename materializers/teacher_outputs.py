"""Stores `TeacherOutputs` (responses with top-k logprobs) as compact Parquet shards + a manifest."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio

from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.reporting.templating import render
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
        uri = os.path.join(self.uri, "preview.html")
        with fileio.open(uri, "w") as f:
            f.write(preview_html(data))
        return {uri: VisualizationType.HTML}


def preview_html(data: TeacherOutputs, rows: int = 50) -> str:
    """The first `rows` prompts and teacher responses as an HTML page (templates/teacher_outputs.html.j2)."""
    return render("teacher_outputs.html.j2", total_rows=len(data.frame), tokens=data.num_tokens, top_k=data.meta.top_k,
                  teacher=data.meta.teacher, rows=[
                      {"split": str(r.split), "prompt": r.prompt, "response_text": r.response_text,
                       "tokens": len(r.response_ids)} for r in data.frame.head(rows).itertuples()])
