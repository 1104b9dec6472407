"""Stores a `PromptDataset` as Parquet + attrs, with metadata and an HTML preview for the dashboard."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer

from fastdistill.dataset import PromptDataset
from materializers._files import download_dir, upload_dir


class PromptDatasetMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (PromptDataset,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def save(self, data: PromptDataset) -> None:
        with tempfile.TemporaryDirectory() as local:
            data.save(Path(local))
            upload_dir(Path(local), self.uri)

    def load(self, data_type: type[Any]) -> PromptDataset:
        with tempfile.TemporaryDirectory() as local:
            download_dir(self.uri, Path(local))
            return PromptDataset.load(Path(local))

    def extract_metadata(self, data: PromptDataset) -> dict[str, Any]:
        return data.summary()

    def save_visualizations(self, data: PromptDataset) -> dict[str, VisualizationType]:
        uri = os.path.join(self.uri, "preview.html")
        with fileio.open(uri, "w") as f:
            f.write(data.preview_html())
        return {uri: VisualizationType.HTML}
