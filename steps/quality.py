from typing import Annotated

import pandas as pd
from zenml import log_metadata, save_artifact, step

from fastdistill import quality


@step
def quality_gate(
    candidates: pd.DataFrame, synthesis_rejects: pd.DataFrame, gate_config: quality.GateConfig
) -> tuple[Annotated[pd.DataFrame, "gated_prompts"], Annotated[pd.DataFrame, "quarantine"], Annotated[dict, "gate_report"]]:
    """Row filters, then the Great Expectations suite; a failed gate stops the run here."""
    kept, rejected = quality.filter_rows(candidates, gate_config)
    quarantine = pd.concat([synthesis_rejects, rejected], ignore_index=True)
    report = quality.run_gate(kept, len(candidates), gate_config)
    summary = {"passed": report.passed, **report.counts, **quality.reason_counts(quarantine), "quarantined": len(quarantine),
               "failed_expectations": [r.name for r in report.results if not r.success]}
    log_metadata({k: v for k, v in summary.items() if k != "failed_expectations"})
    if not report.passed:
        # Keep the evidence even though the run stops: rejected rows are never lost.
        save_artifact(quarantine, name="quarantine")
        save_artifact(summary, name="gate_report")
        raise quality.GateFailed(report)
    return kept, quarantine, summary
