"""The run summary: what build_report returns, how the CLI reads it back, and the terminal tables it prints."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from rich.console import Console

from fastdistill.config import TrainingConfig
from fastdistill.evaluation.suite import Sample
from fastdistill.registry.mlflow_registry import Registration
from fastdistill.reporting.html import write_report
from fastdistill.reporting.summary import (
    MissingSummary,
    RunSummary,
    gate_counts,
    print_summary,
    summary_of_run,
)
from fastdistill.evaluation.scores import Scores
from fastdistill.training.selection import TrialResult

METRICS = {"rougeL_vs_teacher": 0.31, "teacher_forced_kl": 1.25, "student_params": 3219776.0, "eval_examples": 5.0}
TRAINING = TrainingConfig()


def _trial(name: str, kl: float, best: bool) -> TrialResult:
    scores = Scores(split="validation", ids=["v0", "v1"],
                    per_example={"teacher_forced_kl": [kl, kl], "rougeL_vs_teacher": [1.0, 1.0]})
    return TrialResult(trial=name, config=name, objective=name, step=f"train_student_{name}", params={"objective": name},
                       scores=scores,
                       history=[{"step": 1, "loss": 3.0}], mlflow_run_id=f"r-{name}", best=best, seconds=5.8,
                       training=TRAINING)


REGISTRATION = Registration(name="fastdistill-student", version="1", aliases=["challenger", "champion"], promoted=True,
                            reason="there is no champion yet", model_uri="models:/fastdistill-student/1",
                            decision="promote")


def _summary() -> RunSummary:
    return RunSummary(
        "distill-1", "completed", METRICS, registration=REGISTRATION.model_dump(),
        samples=[Sample(id="a", prompt="p", reference=float("nan"), teacher="t", student="s").model_dump()],
        loss_history={"train/loss": [(1, 3.0), (2, 2.5)]}, tracking_uri="sqlite:///m.db", mlflow_run_id="",
        data_quality={"rows_in": 24, "rows_kept": 24},
        sweep_results=[_trial("sft", 9.4, False).model_dump(mode="json"), _trial("fkl", 8.7, True).model_dump(mode="json")],
    )


def _printed(summary: RunSummary) -> str:
    console = Console(width=100, record=True)
    print_summary(summary, None, console)
    return console.export_text()


def test_the_summary_survives_its_artifact_round_trip():
    summary = _summary()
    again = RunSummary.model_validate_json(summary.model_dump_json())
    assert again == summary
    assert again.loss_history["train/loss"][0] == (1, 3.0)
    assert again.samples[0]["reference"] is None  # pandas' NaN for a missing reference is stored as None


def test_positional_and_keyword_construction_agree():
    assert RunSummary("r", "completed", {"x": 1.0}) == RunSummary(run_name="r", status="completed", metrics={"x": 1.0})
    assert RunSummary("r", "completed").metrics == {}


def test_the_print_says_where_each_figure_comes_from_with_cis_and_warnings():
    summary = _summary().model_copy(update={
        "estimates": {"rougeL_vs_teacher": {"value": 0.31, "n": 5, "ci_low": 0.21, "ci_high": 0.4}},
        "splits": {"train": 24, "validation": 2, "test": 5},
        "warnings": [{"code": "small_test_set", "message": "5 test examples (< 30): indicative only"}],
        "selection": {"reason": "fkl is ahead of the runner-up sft on validation teacher_forced_kl beyond noise",
                      "split": "validation", "metric": "teacher_forced_kl", "configs": []}})
    text = _printed(summary)
    assert "splits: train 24, validation 2, test 5" in text
    assert "metrics: test split, 5 examples" in text
    assert "WARNING small_test_set: 5 test examples (< 30): indicative only" in text
    assert re.search(r"rougeL_vs_teacher\s+│\s+0\.31 \[0\.21, 0\.40\]\s+│\s+5", text)
    assert "training sweep: validation split, n=2, 95% CI" in text
    assert "fkl (chosen)" in text and "3,219,776" in text and "train seconds" in text
    assert "selection: fkl is ahead of the runner-up sft" in text
    assert "registered fastdistill-student version 1 aliases ['challenger', 'champion'] (promote)" in text
    assert "data: rows_in 24, rows_kept 24" in text


def test_text_with_brackets_is_printed_literally():
    summary = _summary().model_copy(update={"registration": {**REGISTRATION.model_dump(), "reason": "needs [gpu] [/x]"}})
    assert "needs [gpu] [/x]" in _printed(summary)


def test_several_seeds_get_a_table_of_their_spread():
    selection = {"reason": "r", "split": "validation", "metric": "rougeL_vs_teacher", "configs": [
        {"config": "fkl", "estimate": {"value": 0.3, "n": 12, "ci_low": 0.25, "ci_high": 0.35}, "seed_values": [0.28, 0.32]}]}
    text = _printed(_summary().model_copy(update={"selection": selection}))
    assert "seeds: validation, rougeL_vs_teacher" in text
    assert re.search(r"fkl\s+│\s+0\.30 \[0\.25, 0\.35\]\s+│\s+12\s+│\s+0\.28 0\.32\s+│\s+0\.028", text)


@dataclass
class _Artifact:
    value: object

    def load(self):
        return self.value


@dataclass
class _Step:
    name: str
    status: str = "completed"
    outputs: dict = field(default_factory=dict)
    message: str | None = None

    def __post_init__(self):
        self.status = SimpleNamespace(value=self.status)
        self.exception_info = SimpleNamespace(message=self.message) if self.message else None


def _run(*steps: _Step, status: str = "completed"):
    return SimpleNamespace(name="distill-1", status=SimpleNamespace(value=status), steps={s.name: s for s in steps})


def test_the_summary_is_read_from_the_report_step_by_name():
    decoy = _Step("evaluate", outputs={"run_summary": [_Artifact("not this one")]})
    report = _Step("build_report", outputs={"run_summary": [_Artifact(_summary().model_copy(update={"status": "x"}))]})
    summary = summary_of_run(_run(decoy, report), "sqlite:///elsewhere.db")
    assert summary.status == "completed" and summary.tracking_uri == "sqlite:///elsewhere.db"
    assert summary.metrics == METRICS
    assert summary_of_run(_run(report)).tracking_uri == "sqlite:///m.db"  # no override: the step's own


def test_a_failed_run_names_the_failed_step_instead_of_a_summary():
    run = _run(_Step("load_seeds"), _Step("quality_gate", "failed", message="train rows >= min_rows (1000): observed 19"),
               status="failed")
    with pytest.raises(MissingSummary, match=r"run distill-1 has no run_summary from step build_report: "
                                             r"step quality_gate failed: train rows >= min_rows \(1000\): observed 19"):
        summary_of_run(run)
    with pytest.raises(MissingSummary, match="status completed; a run made before build_report returned run_summary"):
        summary_of_run(_run(_Step("build_report", outputs={"run_report": [_Artifact("<html>")]})))


def test_gate_counts_put_counts_before_reasons():
    gate = SimpleNamespace(counts={"rows_in": 3, "rows_kept": 2}, reasons={"rejected/empty": 1})
    assert list(gate_counts(gate).items()) == [("rows_in", 3), ("rows_kept", 2), ("rejected/empty", 1)]


def test_write_report_writes_the_page_under_the_run_name(tmp_path):
    path = write_report(_summary(), tmp_path / "reports")
    assert path == tmp_path / "reports" / "distill-1.html"
    assert "FastDistill run distill-1" in path.read_text()
