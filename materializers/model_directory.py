"""Stores a `ModelDirectory` (a saved transformers model) in the artifact store."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer

from fastdistill.models.directory import ModelDirectory
from materializers._files import download_dir, upload_dir


class ModelDirectoryMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (ModelDirectory,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def save(self, data: ModelDirectory) -> None:
        data.write_info()
        upload_dir(Path(data.path), os.path.join(self.uri, "model"))

    def load(self, data_type: type[Any]) -> ModelDirectory:
        # Kept until the step ends: the caller loads weights from this path.
        with self.get_temporary_directory(delete_at_exit=False) as local:
            download_dir(os.path.join(self.uri, "model"), Path(local))
            return ModelDirectory.read(Path(local))

    def extract_metadata(self, data: ModelDirectory) -> dict[str, Any]:
        config = json.loads((Path(data.path) / "config.json").read_text())
        return {
            "num_layers": config.get("num_hidden_layers"),
            "hidden_size": config.get("hidden_size"),
            "vocab_size": config.get("vocab_size"),
            "size_on_disk_bytes": data.num_bytes,
            **{k: v for k, v in data.info.items() if isinstance(v, (int, float, str))},
        }
