"""The generators driven by a real (tiny, random) teacher backend, then the gate and the artifacts.

The tiny teacher writes nonsense, which is the point: every generator must
survive messy output, and every row must still be accounted for."""

from __future__ import annotations

import pandas as pd
import pytest

from fastdistill.config import DataConfig, GateConfig, SynthesisConfig
from fastdistill.data.prompt_dataset import PromptDataset
from fastdistill.data.seeds import load_seeds
from fastdistill.gate.quality import (
    GateReport,
    filter_rows,
    reason_counts,
    run_gate,
)
from fastdistill.inference.hf import HFBackend
from fastdistill.synthesis.candidates import add_token_counts, build_candidates


@pytest.fixture(scope="module")
def synthesized(tiny_teacher_dir):
    backend = HFBackend(tiny_teacher_dir)
    seeds = load_seeds(DataConfig(max_seeds=18))
    config = SynthesisConfig(num_requests=2, rounds=2, examples_per_request=3, max_new_tokens=16, evol_prompts=3,
                             evol_max_new_tokens=8, rationale_categories=["math"], rationale_samples=2,
                             rationale_max_new_tokens=8)
    result = build_candidates(seeds, backend, config, batch_size=8)
    return seeds, add_token_counts(result.candidates, backend.tokenizer), result


def test_every_seed_and_generated_row_is_a_candidate_or_quarantined_with_a_reason(synthesized):
    seeds, candidates, result = synthesized
    stats = result.stats
    assert stats["evolutions"] == 3 and stats["rationale_rows"] >= 1
    produced = len(seeds) + stats["instructions_parsed"] + stats["evolutions"]
    assert len(candidates) + len(result.quarantine) - stats["unparsed_responses"] == produced
    assert result.quarantine["reasons"].str.len().gt(0).all()
    assert set(result.quarantine["stage"]) == {"synthesis"}
    # Random weights never write 'Answer:': each math train seed is quarantined for that reason, not dropped.
    math_train = set(seeds.loc[(seeds["category"] == "math") & (seeds["split"] == "train"), "id"])
    rejected = result.quarantine.set_index("id")["reasons"]
    assert all(rejected[i].startswith("rationale unparseable: no final answer") for i in math_train)
    assert not set(candidates["id"]) & math_train
    assert candidates["prompt_tokens"].dtype == "int64" and (candidates["prompt_tokens"] > 0).all()


def test_gate_accounts_for_every_candidate_and_the_artifacts_round_trip(synthesized, tmp_path):
    _, candidates, result = synthesized
    cfg = GateConfig(min_rows=5, semantic_duplicate_threshold=None)
    kept, rejected = filter_rows(candidates, cfg)
    assert len(kept) + len(rejected) == len(candidates)
    quarantine = PromptDataset.of(pd.concat([result.quarantine, rejected], ignore_index=True), "quarantine")
    report = run_gate(kept, len(candidates), cfg, reason_counts(quarantine))
    assert report.passed, report.summary()
    assert sum(report.reasons.values()) >= len(quarantine)

    gated = PromptDataset.of(kept, "gated_prompts", report.reasons)
    gated.save(tmp_path / "gated")
    loaded = PromptDataset.load(tmp_path / "gated")
    assert isinstance(loaded, PromptDataset) and loaded.kind == "gated_prompts"
    pd.testing.assert_frame_equal(pd.DataFrame(loaded), pd.DataFrame(gated), check_dtype=False)
    summary = loaded.summary()
    assert summary["rows"] == len(kept) and summary["rejections"] == report.reasons
    assert sum(summary["rows_per_source"].values()) == len(kept)
    assert summary["prompt_tokens_max"] == kept["prompt_tokens"].max()
    assert "<table" in loaded.preview_html() and "gated_prompts" in loaded.preview_html()

    again = GateReport.from_dict(report.to_dict())
    assert again.summary() == report.summary() and again.validation["success"] is True
    assert "expect_column_values_to_be_unique(id)" in again.html()
