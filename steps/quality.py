import re
from typing import Annotated

import mlflow
import mlflow.data
import pandas as pd
from zenml import log_metadata, save_artifact, step

from fastdistill.config import GateConfig
from fastdistill.data.prompt_dataset import PromptDataset
from fastdistill.gate import quality


def _embedder(gate_config: GateConfig):
    if gate_config.semantic_duplicate_threshold is None:
        return None
    from fastdistill.gate.embeddings import embed

    return embed


def _log_to_mlflow(report: quality.GateReport, quarantine: PromptDataset, gated: PromptDataset) -> None:
    # MLflow names allow letters, digits, _ - . / and spaces only.
    metrics = {re.sub(r"[^\w\-. /]", "_", k): v for k, v in {**report.counts, **report.reasons}.items()}
    mlflow.log_metrics({f"gate/{k}": float(v) for k, v in metrics.items()} | {"gate/passed": float(report.passed)})
    mlflow.log_dict(report.to_dict(), "quality/gate_report.json")
    mlflow.log_text(report.html(), "quality/gate_report.html")
    mlflow.log_text(quarantine.preview_html(rows=200), "quality/quarantine.html")
    mlflow.log_dict(gated.summary(), "quality/gated_prompts_summary.json")
    # MLflow's dataset tracking: the run records which prompts (digest, schema, source) the teacher will label.
    mlflow.log_input(mlflow.data.from_pandas(pd.DataFrame(gated), name="gated_prompts"), context="teacher_inference")


@step(experiment_tracker=True)
def quality_gate(
    candidates: pd.DataFrame, synthesis_rejects: pd.DataFrame, gate_config: GateConfig
) -> tuple[Annotated[PromptDataset, "gated_prompts"], Annotated[PromptDataset, "quarantine"],
           Annotated[quality.GateReport, "gate_report"]]:
    """Dedup and row filters, then the Great Expectations suite; a failed gate stops the run here."""
    kept, rejected = quality.filter_rows(candidates, gate_config, _embedder(gate_config))
    if len(kept) + len(rejected) != len(candidates):
        raise AssertionError(f"gate lost rows: {len(kept)} kept + {len(rejected)} rejected != {len(candidates)} candidates")
    quarantine = PromptDataset.of(pd.concat([synthesis_rejects, rejected], ignore_index=True), "quarantine")
    report = quality.run_gate(kept, len(candidates), gate_config, quality.reason_counts(quarantine))
    gated = PromptDataset.of(kept, "gated_prompts", report.reasons)
    log_metadata({"passed": report.passed, **report.counts, "quarantined": len(quarantine), "gate_rejected": len(rejected),
                  "synthesis_rejected": len(synthesis_rejects), "rejections": report.reasons,
                  "failed_expectations": [r.name for r in report.failed]})
    _log_to_mlflow(report, quarantine, gated)
    if not report.passed:
        # Keep the evidence even though the run stops: rejected rows are never lost.
        save_artifact(quarantine, name="quarantine")
        save_artifact(report, name="gate_report")
        raise quality.GateFailed(report)
    return gated, quarantine, report
