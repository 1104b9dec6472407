"""Running a pipeline on the resolved YAML, and the failure it reports (fastdistill.infra.runs), without ZenML."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from fastdistill.config import DataConfig, RunConfig
from fastdistill.infra import runs

PARAMS = RunConfig(data=DataConfig())


@pytest.fixture(autouse=True)
def _no_zenml_store(monkeypatch):
    """These tests run fake pipelines: there is no ZenML store to look for abandoned runs in."""
    monkeypatch.setattr(runs, "mark_abandoned_runs", lambda *args: [])


class _Pipeline:
    name = "distill"

    def __init__(self, error: Exception | None = None):
        self.error, self.options = error, None

    @staticmethod
    def entrypoint(data, teacher):
        pass

    def with_options(self, **options):
        self.options = options

        def call():
            if self.error:
                raise self.error
            return "the run"
        return call


def _step(name, status, message=None):
    return SimpleNamespace(name=name, status=SimpleNamespace(value=status),
                           exception_info=SimpleNamespace(message=message) if message else None)


def test_failure_details_name_every_failed_step_with_its_message():
    run = SimpleNamespace(steps={"load_seeds": _step("load_seeds", "completed"),
                                 "quality_gate": _step("quality_gate", "failed", "quality gate FAILED: 3 of 9 rows kept"),
                                 "evaluate": _step("evaluate", "failed")})
    assert runs.failure_details(run) == ("step quality_gate failed: quality gate FAILED: 3 of 9 rows kept\n"
                                         "step evaluate failed: see the log above")
    assert runs.failure_details(SimpleNamespace(steps={})) == ""


def test_a_run_gets_the_resolved_yaml_with_only_the_sections_its_pipeline_takes(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "newest_run", lambda name: None)
    pipeline = _Pipeline()
    document = {"enable_cache": True, "parameters": {"data": {}}}
    assert runs.run_pipeline(pipeline, Path("configs/tiny.yaml"), document, PARAMS, tmp_path, no_cache=True) == "the run"
    resolved = Path(pipeline.options["config_path"])
    assert resolved.parent == tmp_path / ".fastdistill" / "runs" and resolved.name.endswith("-tiny.yaml")
    written = yaml.safe_load(resolved.read_text())
    assert set(written["parameters"]) == {"data", "teacher"} and written["enable_cache"] is False
    assert "schedule" not in pipeline.options
    runs.run_pipeline(pipeline, Path("configs/tiny.yaml"), document, PARAMS, tmp_path, schedule="every sunday")
    assert pipeline.options["schedule"] == "every sunday"


def _run(run_id: str, created: int):
    return SimpleNamespace(id=run_id, created=created)


def test_a_failed_run_raises_with_the_failing_steps_message(tmp_path, monkeypatch):
    newest = iter([_run("old", 1), _run("new", 2)])  # before the call, then after it
    monkeypatch.setattr(runs, "newest_run", lambda name: next(newest))
    monkeypatch.setattr(runs, "_load_run", lambda run_id: SimpleNamespace(steps={"quality_gate": _step(
        "quality_gate", "failed", f"run {run_id}: [gpu] too few rows")}))
    with pytest.raises(runs.RunFailed, match=r"^configs/x.yaml: the run failed: step quality_gate failed: run new: "
                                             r"\[gpu\] too few rows$"):
        runs.run_pipeline(_Pipeline(RuntimeError("boom")), Path("configs/x.yaml"), {}, PARAMS, tmp_path)


@pytest.mark.parametrize("before, after", [(None, None), (_run("old", 1), _run("old", 1))])
def test_a_run_zenml_never_created_reports_its_own_error_never_an_older_runs(tmp_path, monkeypatch, before, after):
    newest = iter([before, after])
    monkeypatch.setattr(runs, "newest_run", lambda name: next(newest))
    monkeypatch.setattr(runs, "_load_run", lambda run_id: pytest.fail("an older run's failure was read"))
    error = ValueError("1 validation error for PipelineRunConfiguration\nenable_cache\n  Input should be a valid boolean")
    with pytest.raises(runs.RunFailed, match=r"the run failed: ValueError: 1 validation error for "
                                             r"PipelineRunConfiguration; enable_cache; Input should be a valid boolean$"):
        runs.run_pipeline(_Pipeline(error), Path("configs/x.yaml"), {}, PARAMS, tmp_path)
