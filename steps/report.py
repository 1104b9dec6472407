from typing import Annotated

import mlflow
from mlflow.tracking import MlflowClient
from zenml import get_step_context, log_metadata, step
from zenml.types import HTMLString

from fastdistill.reporting import html as report_html
from fastdistill.reporting import summary as run_summary


@step(experiment_tracker=True)
def build_report(
    eval_metrics: dict,
    eval_samples: list,
    registration: dict | None = None,
    sweep_results: list | None = None,
    born_again: list | None = None,
) -> Annotated[HTMLString, "run_report"]:
    """The run's self-contained HTML report: a ZenML visualization, and `report/report.html` in the MLflow run."""
    run = mlflow.active_run()
    client = MlflowClient()
    details, history = run_summary.read_mlflow_parts(client, run.info.run_id)
    summary = run_summary.RunSummary(
        get_step_context().pipeline_run.name, "completed", eval_metrics, registration or {}, eval_samples,
        loss_history=history, tracking_uri=mlflow.get_tracking_uri(), mlflow_run_id=run.info.run_id,
        sweep_results=sweep_results, born_again=born_again, details=details,
    )
    page = report_html.render_html(summary)
    report_html.log_to_mlflow(client, run.info.run_id, page)
    log_metadata({"bytes": len(page), "figures": page.count("data-figure=")})
    return HTMLString(page)
