"""The resolved run YAML that ZenML runs, and which sections a pipeline takes (fastdistill.run_config)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from fastdistill.config import DataConfig, RunConfig, SweepConfig
from fastdistill.run_config import (
    pipeline_parameters,
    pipeline_sections,
    resolved_document,
    write_resolved_config,
)

PARAMS = RunConfig(data=DataConfig(), sweep=SweepConfig(grid={"objective": ["sft", "fkl"]}))


class _Pipeline:
    @staticmethod
    def entrypoint(data, teacher, sweep):
        pass


def test_a_pipeline_takes_the_sections_named_by_its_parameters():
    assert pipeline_parameters(_Pipeline) == {"data", "teacher", "sweep"}
    assert pipeline_sections(PARAMS, _Pipeline) == {"data": PARAMS.data, "teacher": PARAMS.teacher,
                                                    "sweep": PARAMS.sweep}


def test_the_resolved_yaml_is_written_under_fastdistill_runs(tmp_path):
    document = {"run_name": "x", "parameters": {"data": {}}, "steps": {"train_student": {"enable_cache": False}}}
    now = datetime(2026, 12, 1, 9, 5, 3, tzinfo=UTC)
    path = write_resolved_config(Path("configs/tiny.yaml"), document, PARAMS, {"data", "sweep"}, tmp_path, now=now)
    assert path == tmp_path / ".fastdistill" / "runs" / "20261201-090503-tiny.yaml"
    written = yaml.safe_load(path.read_text())
    assert written == resolved_document(document, PARAMS, {"data", "sweep"})
    assert set(written["parameters"]) == {"data", "sweep"} and "enable_cache" not in written
    # the train_student entry applies to every trial of the sweep
    assert written["steps"] == {"train_student_sft": {"enable_cache": False}, "train_student_fkl": {"enable_cache": False}}
    again = write_resolved_config(Path("tiny.yaml"), document, PARAMS, {"data"}, tmp_path, no_cache=True, now=now)
    assert yaml.safe_load(again.read_text())["enable_cache"] is False
