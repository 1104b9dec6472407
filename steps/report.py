from typing import Annotated

import mlflow
from mlflow.tracking import MlflowClient
from zenml import get_step_context, log_metadata, step
from zenml.types import HTMLString

from fastdistill.evaluation.evaluate_file import estimate_json
from fastdistill.evaluation.scores import EvalMetrics
from fastdistill.evaluation.suite import Sample
from fastdistill.gate.quality import GateReport
from fastdistill.registry.born_again import GenerationRow
from fastdistill.registry.mlflow_registry import Registration
from fastdistill.reporting.html import log_to_mlflow, render_html
from fastdistill.reporting.summary import RunSummary, gate_counts, read_mlflow_parts
from fastdistill.training.selection import Selection, TrialResult


@step(experiment_tracker=True)
def build_report(
    eval_metrics: EvalMetrics,
    eval_samples: list[Sample],
    registration: Registration | None = None,
    sweep_results: list[TrialResult] | None = None,
    born_again: list[GenerationRow] | None = None,
    gate_report: GateReport | None = None,
    selection: Selection | None = None,
) -> tuple[Annotated[HTMLString, "run_report"], Annotated[RunSummary, "run_summary"]]:
    """The run's self-contained HTML report (a ZenML visualization, and `report/report.html` in the MLflow run),
    and the `RunSummary` it shows: what `run.py` prints at the end of a run and `run.py report RUN` renders again."""
    run = mlflow.active_run()
    client = MlflowClient()
    details, history = read_mlflow_parts(client, run.info.run_id)
    summary = RunSummary(
        run_name=get_step_context().pipeline_run.name, status="completed", metrics=eval_metrics.values,
        registration=registration.model_dump() if registration is not None else {},
        samples=[sample.model_dump() for sample in eval_samples], loss_history=history,
        tracking_uri=mlflow.get_tracking_uri(), mlflow_run_id=run.info.run_id,
        sweep_results=None if sweep_results is None else [trial.model_dump(mode="json") for trial in sweep_results],
        born_again=None if born_again is None else [row.model_dump() for row in born_again],
        data_quality=gate_counts(gate_report) if gate_report is not None else {}, details=details,
        split=eval_metrics.split, warnings=[w.model_dump() for w in eval_metrics.warnings],
        estimates={name: estimate_json(e) for name, e in eval_metrics.scores.estimates().items()
                   if name in eval_metrics.scores.per_example},
        selection=None if selection is None else selection.model_dump(mode="json"),
        splits=gate_report.split_counts if gate_report is not None else {},
    )
    page = render_html(summary)
    log_to_mlflow(client, run.info.run_id, page)
    log_metadata({"bytes": len(page), "figures": page.count("data-figure=")})
    return HTMLString(page), summary
