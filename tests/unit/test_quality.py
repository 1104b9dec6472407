"""Row filters keep every row somewhere; the GX gate fails with named expectations and observed values."""

import pandas as pd
import pytest
from pydantic import ValidationError

from fastdistill.quality import GateConfig, GateFailed, filter_rows, reason_counts, run_gate


def _frame(prompts, splits=None, sources=None):
    n = len(prompts)
    return pd.DataFrame({
        "id": [f"r{i}" for i in range(n)], "category": "open_qa", "prompt": prompts,
        "reference": None, "source": sources or ["seed"] * n, "split": splits or ["train"] * n,
    })


def test_each_row_reason_is_recorded():
    cfg = GateConfig(min_prompt_chars=8, max_prompt_chars=40)
    frame = _frame(["", "short", "x" * 41, "As an AI I cannot help.", "What is the capital of France?",
                    "what is the capital of france", "Name two primary colors."])
    kept, quarantine = filter_rows(frame, cfg)
    reasons = dict(zip(quarantine["id"], quarantine["reasons"]))
    assert reasons == {
        "r0": "empty prompt",
        "r1": "too short: 5 < 8 chars",
        "r2": "too long: 41 > 40 chars",
        "r3": "refusal/boilerplate pattern",
        "r5": "exact duplicate of an earlier row",
    }
    assert kept["id"].tolist() == ["r4", "r6"]


def test_all_reasons_are_joined_and_counted():
    cfg = GateConfig(min_prompt_chars=30)
    frame = _frame(["I'm sorry, no.", "I'm sorry, no!"])
    _, quarantine = filter_rows(frame, cfg)
    assert quarantine["reasons"].tolist() == [
        "too short: 14 < 30 chars; refusal/boilerplate pattern",
        "too short: 14 < 30 chars; refusal/boilerplate pattern; exact duplicate of an earlier row",
    ]
    assert reason_counts(quarantine) == {
        "rejected/too short": 2, "rejected/refusal/boilerplate pattern": 2, "rejected/exact duplicate of an earlier row": 1,
    }


def test_no_row_is_lost_or_duplicated_and_order_is_kept():
    frame = _frame([f"Prompt number {i % 7} please" for i in range(30)])
    kept, quarantine = filter_rows(frame, GateConfig())
    assert len(kept) + len(quarantine) == len(frame)
    assert not set(kept["id"]) & set(quarantine["id"])
    assert kept["id"].tolist() == sorted(kept["id"], key=lambda i: int(i[1:]))


def test_leakage_drops_the_train_row_not_the_eval_row():
    frame = _frame(["Explain gravity simply.", "explain gravity, simply"], splits=["eval", "train"])
    kept, quarantine = filter_rows(frame, GateConfig())
    assert kept["id"].tolist() == ["r0"]
    assert "leakage: same prompt as an eval row" in quarantine["reasons"].iloc[0]


def test_clean_frame_passes_the_gate():
    frame = _frame([f"Write a sentence about topic number {i}." for i in range(30)],
                   splits=["eval"] * 5 + ["train"] * 25)
    kept, _ = filter_rows(frame, GateConfig())
    report = run_gate(kept, len(frame), GateConfig(min_rows=20))
    assert report.passed, report.summary()
    assert report.counts == {"rows_in": 30, "rows_kept": 30, "rows_rejected": 0, "train_rows": 25}


def test_failing_gate_names_the_expectation_and_observed_value():
    frame = _frame([f"Describe item number {i} briefly." for i in range(6)], splits=["eval"] + ["train"] * 5)
    report = run_gate(frame, 12, GateConfig(min_rows=20, max_rejected_fraction=0.3))
    assert not report.passed
    message = str(GateFailed(report))
    assert "train rows >= min_rows (20): observed 5" in message
    assert "rejected fraction <= max_rejected_fraction (0.3): observed 0.500 (6 of 12)" in message


def test_gx_expectation_failures_are_reported_with_examples():
    frame = _frame(["Tell me a fact about owls.", "Tell me a fact about cats."], sources=["seed", "scraped"],
                   splits=["eval", "train"])
    report = run_gate(frame, 2, GateConfig(min_rows=1))
    failed = {r.name: r.observed for r in report.results if not r.success}
    assert list(failed) == ["expect_column_values_to_be_in_set"]
    assert "scraped" in failed["expect_column_values_to_be_in_set"]


@pytest.mark.parametrize("kwargs, field", [
    ({"min_prompt_chars": 50, "max_prompt_chars": 10}, "min_prompt_chars"),
    ({"max_rejected_fraction": 1.5}, "max_rejected_fraction"),
    ({"refusal_patterns": ["(unclosed"]}, "refusal_patterns"),
    ({"min_rowz": 3}, "min_rowz"),
])
def test_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValidationError) as err:
        GateConfig(**kwargs)
    assert field in str(err.value)
