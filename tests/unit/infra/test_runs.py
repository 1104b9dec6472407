"""Running a pipeline on the resolved YAML, and the failure it reports (fastdistill.infra.runs), without ZenML."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from fastdistill.config import DataConfig, RunConfig
from fastdistill.infra import runs

PARAMS = RunConfig(data=DataConfig())


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


def test_a_run_gets_the_resolved_yaml_with_only_the_sections_its_pipeline_takes(tmp_path):
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


def test_a_failed_run_raises_with_the_failing_steps_message(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "latest_failure", lambda name: f"step quality_gate of {name} failed: [gpu] too few rows")
    with pytest.raises(runs.RunFailed, match=r"^configs/x.yaml: the run failed: step quality_gate of distill failed: "
                                             r"\[gpu\] too few rows$"):
        runs.run_pipeline(_Pipeline(RuntimeError("boom")), Path("configs/x.yaml"), {}, PARAMS, tmp_path)
    monkeypatch.setattr(runs, "latest_failure", lambda name: "")  # no run was even created
    with pytest.raises(runs.RunFailed, match=r"the run failed: RuntimeError: boom$"):
        runs.run_pipeline(_Pipeline(RuntimeError("boom")), Path("configs/x.yaml"), {}, PARAMS, tmp_path)
