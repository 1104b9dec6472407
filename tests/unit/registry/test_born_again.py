"""Born-Again chain planning: which generation runs next, what it learns from, when the chain stops."""

from __future__ import annotations

import numpy as np
import pytest

from fastdistill.registry.born_again import (
    BornAgainConfig,
    ChainRegistration,
    Finished,
    Generation,
    GenerationRow,
    Plan,
    improvement,
    plan_next,
    report_rows,
    run_chain,
)
from fastdistill.evaluation.scores import EvalMetrics, Scores
from fastdistill.registry.mlflow_registry import Registration

CHAIN = BornAgainConfig(chain_id="c1", generations=3, metric="rougeL_vs_reference", min_improvement=0.01)
NAME = "student-c1"


def _gen(n: int, version: str, improved: bool, score: float, aliases=()) -> Generation:
    return Generation(n, version, "x", "y", improved, score, f"run-{n}", list(aliases))


def _plan(generation: int, teacher: str, teacher_version: str, parent_run_id: str, teacher_score: float | None) -> Plan:
    return Plan(generation=generation, teacher=teacher, teacher_version=teacher_version, parent_run_id=parent_run_id,
                teacher_score=teacher_score)


def test_an_empty_chain_starts_with_the_original_teacher():
    plan = plan_next([], CHAIN, NAME, "packaged:smollm2-135m-instruct")
    assert plan == _plan(1, "packaged:smollm2-135m-instruct", "original", "", None)
    assert plan.lineage(CHAIN) == {"chain_id": "c1", "generation": "1", "teacher_version": "original",
                                   "parent_run_id": "", "teacher": "packaged:smollm2-135m-instruct"}


def test_the_next_generation_learns_from_the_champion_and_links_its_run():
    chain = [_gen(1, "4", True, 0.30, ["previous-champion"]), _gen(2, "7", True, 0.35, ["champion", "challenger"])]
    assert plan_next(chain, CHAIN, NAME, "t") == _plan(3, "models:/student-c1/7", "7", "run-2", 0.35)


def test_a_generation_without_improvement_stops_the_chain():
    chain = [_gen(1, "1", True, 0.30, ["champion"]), _gen(2, "2", False, 0.29, ["challenger"])]
    finished = plan_next(chain, CHAIN, NAME, "t")
    assert isinstance(finished, Finished) and "generation 2 (v2) did not improve rougeL_vs_reference" in finished.reason
    # without the stop rule the chain goes on, still learning from the champion (generation 1)
    relaxed = CHAIN.model_copy(update={"stop_on_no_improvement": False})
    assert plan_next(chain, relaxed, NAME, "t") == _plan(3, "models:/student-c1/1", "1", "run-1", 0.30)


def test_the_generation_limit_stops_the_chain():
    chain = [_gen(i, str(i), True, 0.3 + i / 10, ["champion"] if i == 3 else []) for i in (1, 2, 3)]
    finished = plan_next(chain, CHAIN, NAME, "t")
    assert isinstance(finished, Finished) and "generation limit (3)" in finished.reason


def _evaluation(**metrics) -> EvalMetrics:
    """Lists are per-example scores on 40 test prompts, numbers aggregates (no CI)."""
    per_example = {k: v for k, v in metrics.items() if isinstance(v, list)}
    aggregates = {k: v for k, v in metrics.items() if not isinstance(v, list)}
    ids = [f"t{i}" for i in range(len(next(iter(per_example.values()))))] if per_example else ["t0"]
    return EvalMetrics(scores=Scores(split="test", ids=ids, per_example=per_example, aggregates=aggregates))


def test_improvement_is_measured_against_the_generations_teacher_with_the_margin():
    later = _plan(2, "models:/m/1", "1", "r", 0.30)
    assert improvement(_evaluation(rougeL_vs_reference=0.32), later, CHAIN)[0] is True
    ok, why = improvement(_evaluation(rougeL_vs_reference=0.305), later, CHAIN)
    assert ok is False and "margin +0.0050, required > 0.01" in why
    first = _plan(1, "t", "original", "", None)
    assert improvement(_evaluation(rougeL_vs_reference=0.2), first, CHAIN)[0] is True  # nothing measured to beat
    lower = CHAIN.model_copy(update={"metric": "teacher_forced_kl", "greater_is_better": False})
    assert improvement(_evaluation(teacher_forced_kl=1.0), _plan(2, "m", "1", "r", 1.5), lower)[0] is True
    with pytest.raises(ValueError, match="born_again.metric 'rougeL_vs_reference' was not measured"):
        improvement(_evaluation(top1_agreement=0.5), later, CHAIN)


def test_improvement_over_the_teacher_on_the_same_prompts_must_clear_the_noise():
    rng = np.random.default_rng(0)
    teacher = rng.uniform(0.2, 0.4, 40)
    first = _plan(1, "t", "original", "", None)
    clear = _evaluation(rougeL_vs_reference=list(teacher + 0.1), teacher_rougeL_vs_reference=list(teacher))
    ok, why = improvement(clear, first, CHAIN)
    assert ok is True and "lower bound of its paired 95% CI exceeds min_improvement 0.01" in why
    noisy = _evaluation(rougeL_vs_reference=list(teacher + rng.normal(0.02, 0.2, 40)),
                        teacher_rougeL_vs_reference=list(teacher))
    ok, why = improvement(noisy, first, CHAIN)
    assert ok is False and "does not exceed" in why
    _, why = improvement(noisy, first, CHAIN, decision="point")
    assert "its difference" in why  # `point`: the mean difference alone decides


def test_chain_ids_are_checked():
    with pytest.raises(ValueError):
        BornAgainConfig(chain_id="Has Spaces")


def _chain_runner(registered: list[Generation], improves=lambda n: True):
    """A registry (the list) and a run that registers the planned generation, as the born_again pipeline does."""
    ran = []

    def run_generation(plan: Plan) -> None:
        ran.append(plan.generation)
        improved = improves(plan.generation)
        if improved:  # the champion alias moves to the new version
            for g in registered:
                if "champion" in g.aliases:
                    g.aliases.remove("champion")
        registered.append(_gen(plan.generation, str(len(registered) + 1), improved, 0.3 + plan.generation / 100,
                               ["champion"] if improved else []))
    return ran, run_generation


def test_run_chain_runs_generations_until_the_limit_and_says_why_it_stopped():
    registered: list[Generation] = []
    ran, run_generation = _chain_runner(registered)
    progress = run_chain(lambda: list(registered), run_generation, CHAIN, NAME, "t")
    assert ran == [1, 2, 3] and [p.generation for p in progress.ran] == [1, 2, 3]
    assert [p.teacher for p in progress.ran] == ["t", "models:/student-c1/1", "models:/student-c1/2"]
    assert progress.finished is None  # three generations ran; the limit is only seen by the next call
    again = run_chain(lambda: list(registered), run_generation, CHAIN, NAME, "t")
    assert again.ran == [] and "generation limit (3)" in again.finished.reason and ran == [1, 2, 3]


def test_run_chain_resumes_after_the_registered_generations_and_honours_the_call_limit():
    registered = [_gen(1, "1", True, 0.31, ["champion"])]  # generation 1 registered before a crash
    ran, run_generation = _chain_runner(registered)
    progress = run_chain(lambda: list(registered), run_generation, CHAIN, NAME, "t", limit=1)
    assert ran == [2] and progress.finished is None
    assert progress.ran[0].teacher_version == "1" and progress.ran[0].parent_run_id == "run-1"


def test_run_chain_stops_at_a_generation_that_did_not_improve():
    registered: list[Generation] = []
    ran, run_generation = _chain_runner(registered, improves=lambda n: n < 2)
    progress = run_chain(lambda: list(registered), run_generation, CHAIN, NAME, "t", limit=5)
    assert ran == [1, 2] and "generation 2 (v2) did not improve" in progress.finished.reason


def test_step_outputs_survive_their_json_artifacts():
    plan = _plan(2, "models:/student-c1/1", "1", "run-1", 0.3)
    assert Plan.model_validate_json(plan.model_dump_json()) == plan
    rows = report_rows([Generation(1, "4", "t", "original", True, 0.3, "run-1", ["champion"],
                                   {"rougeL_vs_reference": 0.3, "teacher_rougeL_vs_reference": 0.25})], CHAIN)
    assert [GenerationRow.model_validate_json(r.model_dump_json()) for r in rows] == rows
    assert rows[0].original_teacher == {"rougeL_vs_reference": 0.25} and rows[0].chain_metric == "rougeL_vs_reference"
    registration = Registration(name="m-c1", version="4", aliases=["challenger"], promoted=False, reason="hold",
                                model_uri="models:/m-c1/4", decision="hold")
    chained = ChainRegistration(**registration.model_dump(), generation=2, improved=False, improvement="no")
    assert ChainRegistration.model_validate_json(chained.model_dump_json()) == chained
    assert isinstance(chained, Registration) and chained.previous_champion is None
