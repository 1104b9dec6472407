"""Born-Again chain planning: which generation runs next, what it learns from, when the chain stops."""

from __future__ import annotations

import pytest

from fastdistill.registry.born_again import (
    BornAgainConfig,
    Finished,
    Generation,
    Plan,
    improvement,
    plan_next,
)

CHAIN = BornAgainConfig(chain_id="c1", generations=3, metric="rougeL_vs_reference", min_improvement=0.01)
NAME = "student-c1"


def _gen(n: int, version: str, improved: bool, score: float, aliases=()) -> Generation:
    return Generation(n, version, "x", "y", improved, score, f"run-{n}", list(aliases))


def test_an_empty_chain_starts_with_the_original_teacher():
    plan = plan_next([], CHAIN, NAME, "packaged:smollm2-135m-instruct")
    assert plan == Plan(1, "packaged:smollm2-135m-instruct", "original", "", None)
    assert plan.lineage(CHAIN) == {"chain_id": "c1", "generation": "1", "teacher_version": "original",
                                   "parent_run_id": "", "teacher": "packaged:smollm2-135m-instruct"}


def test_the_next_generation_learns_from_the_champion_and_links_its_run():
    chain = [_gen(1, "4", True, 0.30, ["previous-champion"]), _gen(2, "7", True, 0.35, ["champion", "challenger"])]
    assert plan_next(chain, CHAIN, NAME, "t") == Plan(3, "models:/student-c1/7", "7", "run-2", 0.35)


def test_a_generation_without_improvement_stops_the_chain():
    chain = [_gen(1, "1", True, 0.30, ["champion"]), _gen(2, "2", False, 0.29, ["challenger"])]
    finished = plan_next(chain, CHAIN, NAME, "t")
    assert isinstance(finished, Finished) and "generation 2 (v2) did not improve rougeL_vs_reference" in finished.reason
    # without the stop rule the chain goes on, still learning from the champion (generation 1)
    relaxed = CHAIN.model_copy(update={"stop_on_no_improvement": False})
    assert plan_next(chain, relaxed, NAME, "t") == Plan(3, "models:/student-c1/1", "1", "run-1", 0.30)


def test_the_generation_limit_stops_the_chain():
    chain = [_gen(i, str(i), True, 0.3 + i / 10, ["champion"] if i == 3 else []) for i in (1, 2, 3)]
    finished = plan_next(chain, CHAIN, NAME, "t")
    assert isinstance(finished, Finished) and "generation limit (3)" in finished.reason


def test_improvement_is_measured_against_the_generations_teacher_with_the_margin():
    later = Plan(2, "models:/m/1", "1", "r", 0.30)
    assert improvement({"rougeL_vs_reference": 0.32}, later, CHAIN)[0] is True
    ok, why = improvement({"rougeL_vs_reference": 0.305}, later, CHAIN)
    assert ok is False and "margin +0.0050, required > 0.01" in why
    first = Plan(1, "t", "original", "", None)
    assert improvement({"rougeL_vs_reference": 0.2, "teacher_rougeL_vs_reference": 0.25}, first, CHAIN)[0] is False
    assert improvement({"rougeL_vs_reference": 0.2}, first, CHAIN)[0] is True  # nothing measured to beat
    lower = CHAIN.model_copy(update={"metric": "teacher_forced_kl", "greater_is_better": False})
    assert improvement({"teacher_forced_kl": 1.0}, Plan(2, "m", "1", "r", 1.5), lower)[0] is True
    with pytest.raises(ValueError, match="born_again.metric 'rougeL_vs_reference' was not measured"):
        improvement({"top1_agreement": 0.5}, later, CHAIN)


def test_chain_ids_are_checked():
    with pytest.raises(ValueError):
        BornAgainConfig(chain_id="Has Spaces")
