"""Stores a `PromptDataset` as Parquet + attrs, with metadata and an HTML preview for the dashboard."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio

from fastdistill.data.prompt_dataset import PromptDataset
from materializers._files import DirectoryMaterializer


class PromptDatasetMaterializer(DirectoryMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (PromptDataset,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def extract_metadata(self, data: PromptDataset) -> dict[str, Any]:
        return data.summary()

    def save_visualizations(self, data: PromptDataset) -> dict[str, VisualizationType]:
        uri = os.path.join(self.uri, "preview.html")
        with fileio.open(uri, "w") as f:
            f.write(data.preview_html())
        return {uri: VisualizationType.HTML}
