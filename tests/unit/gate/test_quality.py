"""Row filters keep every row somewhere; the GX gate fails on each violated expectation with its observed value."""

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from fastdistill.config import GateConfig
from fastdistill.data.seeds import read_seeds, with_candidate_defaults
from fastdistill.gate.quality import (
    ExpectationOutcome,
    GateFailed,
    GateReport,
    filter_rows,
    reason_counts,
    run_gate,
)

SEEDS = Path(__file__).resolve().parents[3] / "data" / "seeds.jsonl"
NO_SEMANTIC = {"semantic_duplicate_threshold": None}


def _frame(prompts, splits=None, sources=None):
    n = len(prompts)
    frame = pd.DataFrame({
        "id": [f"r{i}" for i in range(n)], "category": "open_qa", "prompt": prompts,
        "reference": None, "source": sources or ["seed"] * n, "split": splits or ["train"] * n,
    })
    frame["prompt_tokens"] = [len(p.split()) + 1 if isinstance(p, str) else 0 for p in prompts]
    return with_candidate_defaults(frame)


def _clean(n=30):
    """Distinct prompts (the shipped seeds pass every check): 3 test rows, 2 validation rows, the rest train."""
    prompts = read_seeds(SEEDS)["prompt"].tolist()[:n]
    return _frame(prompts, splits=["test"] * 3 + ["validation"] * 2 + ["train"] * (n - 5))


def test_each_row_reason_is_recorded():
    cfg = GateConfig(min_prompt_chars=8, max_prompt_chars=40, **NO_SEMANTIC)
    frame = _frame(["", "short", "x" * 41, "As an AI I cannot help.", "What is the capital of France?",
                    "what is the capital of france", "Name two primary colors."])
    kept, quarantine = filter_rows(frame, cfg)
    reasons = dict(zip(quarantine["id"], quarantine["reasons"]))
    assert reasons == {
        "r0": "empty prompt",
        "r1": "too short: 5 < 8 chars; too few tokens: 2 < 3",
        "r2": "too long: 41 > 40 chars; too few tokens: 2 < 3",
        "r3": "refusal/boilerplate pattern",
        "r5": "exact duplicate: of row r4 (exact)",
    }
    assert kept["id"].tolist() == ["r4", "r6"]
    assert set(quarantine["stage"]) == {"gate"}


def test_all_reasons_are_joined_and_counted():
    cfg = GateConfig(min_prompt_chars=30, **NO_SEMANTIC)
    frame = _frame(["I'm sorry, no, sorry.", "I'm sorry, no, sorry!"])
    _, quarantine = filter_rows(frame, cfg)
    assert quarantine["reasons"].tolist() == [
        "too short: 21 < 30 chars; refusal/boilerplate pattern",
        "too short: 21 < 30 chars; refusal/boilerplate pattern; exact duplicate: of row r0 (exact)",
    ]
    assert reason_counts(quarantine) == {
        "rejected/exact duplicate": 1, "rejected/refusal/boilerplate pattern": 2, "rejected/too short": 2,
    }


def test_accepted_plus_quarantined_equals_candidates_and_order_is_kept():
    distinct = _clean(7)["prompt"].tolist()
    frame = _frame([distinct[i % 7] for i in range(30)])
    kept, quarantine = filter_rows(frame, GateConfig(**NO_SEMANTIC))
    assert len(kept) + len(quarantine) == len(frame) == 30
    assert len(kept) == 7
    assert sorted(kept["id"].tolist() + quarantine["id"].tolist()) == sorted(frame["id"])
    assert kept["id"].tolist() == sorted(kept["id"], key=lambda i: int(i[1:]))


def test_leakage_drops_the_train_row_not_the_held_out_row_even_when_the_train_row_comes_first():
    frame = _frame(["explain gravity, simply please", "Explain gravity simply please.",
                    "Explain gravity simply, please, now", "Name three primary colours.",
                    "name three primary colours", "Name three primary colours!"],
                   splits=["train", "test", "train", "validation", "train", "test"])
    kept, quarantine = filter_rows(frame, GateConfig(**NO_SEMANTIC))
    assert kept["id"].tolist() == ["r1", "r5"]
    reasons = dict(zip(quarantine["id"], quarantine["reasons"]))
    assert reasons["r0"] == "leakage: exact copy of test row r1 (exact)"
    assert reasons["r2"].startswith("leakage: near copy of test row r1 (near, Jaccard")
    assert reasons["r3"] == "leakage: exact copy of test row r5 (exact)"  # validation must not copy test either
    assert reasons["r4"] == "leakage: exact copy of test row r5 (exact)"


def test_clean_frame_passes_the_gate():
    frame = _clean()
    kept, _ = filter_rows(frame, GateConfig(**NO_SEMANTIC))
    report = run_gate(kept, len(frame), GateConfig(min_rows=20))
    assert report.passed, report.summary()
    assert report.counts == {"rows_in": 30, "rows_kept": 30, "rows_rejected": 0, "train_rows": 25,
                             "validation_rows": 2, "test_rows": 3}
    assert len(report.results) >= 19 and report.validation["success"] is True


def _set(frame, column, row, value):
    frame[column] = frame[column].astype(object)
    frame.at[row, column] = value
    return frame


VIOLATIONS = {
    "expect_table_columns_to_match_set": lambda f: f.drop(columns=["reference"]),
    "expect_column_values_to_not_be_null(prompt)": lambda f: _set(f, "prompt", 6, None),
    "expect_column_values_to_be_of_type(prompt)": lambda f: _set(f, "prompt", 6, 123456789),
    "expect_column_values_to_match_regex(prompt)": lambda f: _set(f, "prompt", 6, " " * 12),
    "expect_column_value_lengths_to_be_between(prompt)": lambda f: _set(f, "prompt", 6, "word " * 300),
    "expect_column_values_to_be_between(prompt_tokens)": lambda f: _set(f, "prompt_tokens", 6, 1),
    "expect_column_values_to_be_unique(id)": lambda f: _set(f, "id", 6, "r7"),
    "expect_column_values_to_be_unique(prompt_key)": lambda f: _set(f, "prompt", 6, f.at[7, "prompt"].upper()),
    "expect_column_values_to_be_in_set(split)": lambda f: _set(f, "split", 6, "eval"),
    "expect_column_values_to_be_in_set(source)": lambda f: _set(f, "source", 6, "scraped"),
    "expect_column_values_to_not_be_in_set(prompt_key) where split == train": lambda f: _set(f, "prompt", 6, f.at[0, "prompt"] + "!"),
    "expect_column_values_to_not_be_null(rationale) where needs_rationale": lambda f: _set(f, "needs_rationale", 6, True),
    "expect_column_values_to_not_match_regex_list(prompt)": lambda f: _set(f, "prompt", 6, "I'm sorry, I cannot write that."),
    "train rows >= min_rows (20)": lambda f: f.iloc[:20],
    "test rows >= 1": lambda f: f.iloc[3:],
    "validation rows >= 1": lambda f: pd.concat([f.iloc[:3], f.iloc[5:]]),
}


@pytest.mark.parametrize("expectation", list(VIOLATIONS))
def test_gate_fails_on_each_violated_expectation_and_names_it(expectation):
    frame = VIOLATIONS[expectation](_clean().copy())
    report = run_gate(frame, len(frame), GateConfig(min_rows=20))
    failed = {r.name: r.observed for r in report.results if not r.success}
    assert not report.passed and expectation in failed, failed
    assert f"  - {expectation}: observed {failed[expectation]}" in str(GateFailed(report))


def test_failing_aggregates_report_observed_values():
    frame = _frame([f"Describe item number {i} briefly." for i in range(6)], splits=["test", "validation"] + ["train"] * 4)
    report = run_gate(frame, 12, GateConfig(min_rows=20, max_rejected_fraction=0.3))
    message = str(GateFailed(report))
    assert "train rows >= min_rows (20): observed 4" in message
    assert "rejected fraction <= max_rejected_fraction (0.3): observed 0.500 (6 of 12)" in message


def test_gx_failures_show_unexpected_examples():
    frame = _set(_clean(), "source", 8, "scraped")
    report = run_gate(frame, len(frame), GateConfig(min_rows=1))
    failed = {r.name: r.observed for r in report.results if not r.success}
    assert list(failed) == ["expect_column_values_to_be_in_set(source)"]
    assert failed["expect_column_values_to_be_in_set(source)"] == "1 unexpected, e.g. ['scraped']"


def test_html_report_escapes_a_script_prompt_once_and_shows_every_expectation_and_count():
    prompt = "I'm sorry, <script>alert(1)</script> & more"
    frame = _set(_clean(), "prompt", 6, prompt)
    report = run_gate(frame, len(frame) + 2, GateConfig(min_rows=1), {"rejected/<b>odd</b>": 2})
    failed = {r.name: r.observed for r in report.results if not r.success}
    assert list(failed) == ["expect_column_values_to_not_match_regex_list(prompt)"]
    assert "<script>" in failed["expect_column_values_to_not_match_regex_list(prompt)"]  # GX quotes the prompt

    page = report.html()
    assert "<script>" not in page and "<b>odd" not in page and "&amp;lt;" not in page and "&amp;amp;" not in page
    assert ("<tr style=\"background:#ffebee\"><td>FAIL</td><td>expect_column_values_to_not_match_regex_list(prompt)"
            "</td><td>1 unexpected, e.g. [&#34;I&#39;m sorry, &lt;script&gt;alert(1)&lt;/script&gt; &amp; more&#34;]"
            "</td></tr>") in page
    assert f"<h3>quality gate FAILED: 30 of {len(frame) + 2} rows kept</h3>" in page and "<h4>counts</h4>" in page
    assert page.count("<td>pass</td>") == len(report.results) - 1 and page.count("<td>FAIL</td>") == 1
    for r in report.results:
        assert f"<td>{r.name.replace('<', '&lt;').replace('>', '&gt;')}</td>" in page  # 'train rows >= min_rows (1)'
    for name, value in report.counts.items():
        assert f"<tr><td>{name}</td><td>{value}</td></tr>" in page
    assert "<tr><td>rejected/&lt;b&gt;odd&lt;/b&gt;</td><td>2</td></tr>" in page


def test_html_report_of_a_passing_gate():
    report = GateReport(True, [ExpectationOutcome("eval rows >= 1", True, "5")], {"rows_in": 5, "rows_kept": 5})
    page = report.html()
    assert "<h3>quality gate passed: 5 of 5 rows kept</h3>" in page
    assert "<tr style=\"background:#e8f5e9\"><td>pass</td><td>eval rows &gt;= 1</td><td>5</td></tr>" in page


@pytest.mark.parametrize("kwargs, field", [
    ({"min_prompt_chars": 50, "max_prompt_chars": 10}, "min_prompt_chars"),
    ({"min_prompt_tokens": 50, "max_prompt_tokens": 10}, "min_prompt_tokens"),
    ({"max_rejected_fraction": 1.5}, "max_rejected_fraction"),
    ({"near_duplicate_threshold": 0.0}, "near_duplicate_threshold"),
    ({"refusal_patterns": ["(unclosed"]}, "refusal_patterns"),
    ({"min_rowz": 3}, "min_rowz"),
])
def test_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValidationError) as err:
        GateConfig(**kwargs)
    assert field in str(err.value)
