"""Stores the quality gate's `GateReport` (with GX's own validation result) as JSON, plus an HTML table."""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer

from fastdistill.gate.quality import GateReport


class GateReportMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (GateReport,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA_ANALYSIS

    def save(self, data: GateReport) -> None:
        with fileio.open(os.path.join(self.uri, "gate_report.json"), "w") as f:
            f.write(json.dumps(data.to_dict(), default=str))

    def load(self, data_type: type[Any]) -> GateReport:
        with fileio.open(os.path.join(self.uri, "gate_report.json"), "r") as f:
            return GateReport.from_dict(json.loads(f.read()))

    def extract_metadata(self, data: GateReport) -> dict[str, Any]:
        return {"passed": data.passed, **data.counts, "failed_expectations": [r.name for r in data.failed],
                "expectations": len(data.results)}

    def save_visualizations(self, data: GateReport) -> dict[str, VisualizationType]:
        uri = os.path.join(self.uri, "gate_report.html")
        with fileio.open(uri, "w") as f:
            f.write(data.html())
        return {uri: VisualizationType.HTML}
