"""The promotion gate: noise-aware decisions on paired CIs, like-with-like checks, and the point rules."""

import numpy as np
import pytest

from fastdistill.evaluation.health import HealthWarning
from fastdistill.evaluation.scores import Scores
from fastdistill.registry.promotion import Identity, Policy, gate, incomparable

IDS = [f"t{i}" for i in range(30)]


def scores(**per_example) -> Scores:
    return Scores(split="test", ids=IDS, per_example={k: list(v) for k, v in per_example.items()})


def values(**metrics) -> Scores:
    """Aggregates only: every comparison falls back to the point estimates."""
    return Scores(split="test", ids=[], aggregates=metrics)


RNG = np.random.default_rng(0)
BASE = RNG.uniform(0.1, 0.5, len(IDS))


def test_ahead_on_the_point_estimate_but_within_noise_is_held_and_the_reason_names_the_ci():
    champion = scores(rougeL_vs_teacher=BASE)
    noise = np.random.default_rng(5).normal(0, 0.08, len(IDS))
    noisy = scores(rougeL_vs_teacher=BASE + 0.025 + noise - noise.mean())  # ahead by exactly 0.025 > min_delta
    decision = gate(noisy, champion, Policy(metric="rougeL_vs_teacher", min_delta=0.01))
    assert decision.action == "hold"
    assert "does not beat the champion beyond noise" in decision.reason
    assert "lower bound of its paired 95% CI" in decision.reason and "n=30" in decision.reason


def test_a_consistent_gain_beyond_min_delta_promotes():
    champion = scores(rougeL_vs_teacher=BASE)
    better = scores(rougeL_vs_teacher=BASE + 0.05 + RNG.normal(0, 0.005, len(IDS)))
    decision = gate(better, champion, Policy(metric="rougeL_vs_teacher", min_delta=0.01))
    assert decision.action == "promote" and "exceeds min_delta 0.01" in decision.reason


def test_the_same_noisy_challenger_promotes_under_the_point_rule():
    champion = scores(rougeL_vs_teacher=BASE)
    noisy = scores(rougeL_vs_teacher=BASE + 0.02 + RNG.normal(0, 0.08, len(IDS)))
    assert gate(noisy, champion, Policy(metric="rougeL_vs_teacher", min_delta=0.0, decision="point")).action in (
        "promote", "hold")  # decided by the point estimate alone, whichever side it falls


def test_lower_is_better_metrics_are_oriented():
    champion = scores(teacher_forced_kl=BASE + 1.0)
    better = scores(teacher_forced_kl=BASE + 0.5)
    assert gate(better, champion, Policy(metric="teacher_forced_kl")).action == "promote"
    assert gate(champion, better, Policy(metric="teacher_forced_kl")).action == "hold"


def test_thresholds_refuse_a_sure_miss_and_hold_an_uncertain_one():
    policy = Policy(metric="rougeL_vs_teacher", thresholds={"rougeL_vs_teacher": 0.3})
    sure_miss = gate(scores(rougeL_vs_teacher=np.full(30, 0.1) + RNG.normal(0, 0.01, 30)), None, policy)
    assert sure_miss.action == "refuse" and "its whole 95% CI" in sure_miss.reason
    straddling = gate(scores(rougeL_vs_teacher=RNG.uniform(0.1, 0.5, 30)), None, policy)
    assert straddling.action == "hold" and "cannot tell yet whether rougeL_vs_teacher clears" in straddling.reason
    assert gate(scores(rougeL_vs_teacher=np.full(30, 0.6)), None, policy).action == "promote"


def test_must_not_regress_refuses_only_a_sure_regression():
    policy = Policy(metric="rougeL_vs_teacher", must_not_regress=("top1_agreement",), regression_tolerance=0.01)
    champion = scores(rougeL_vs_teacher=BASE, top1_agreement=BASE)
    regressed = scores(rougeL_vs_teacher=BASE + 0.1, top1_agreement=BASE - 0.1)
    decision = gate(regressed, champion, policy)
    assert decision.action == "refuse" and "top1_agreement regresses" in decision.reason
    noisy = scores(rougeL_vs_teacher=BASE + 0.1, top1_agreement=BASE + RNG.normal(0, 0.05, 30))
    assert gate(noisy, champion, policy).action == "promote"


def test_health_checks_refuse_when_configured_and_an_uninformative_judge_is_ignored():
    loop = HealthWarning(code="degenerate_output", message="9 of 12 answers loop")
    judge = HealthWarning(code="uninformative_judge", message="position bias")
    good = scores(rougeL_vs_teacher=np.full(30, 0.6), judge_win_rate=np.zeros(30))
    refused = gate(good, None, Policy(metric="rougeL_vs_teacher", refuse_on=("degenerate_output",)), [loop])
    assert refused.action == "refuse" and "health check degenerate_output: 9 of 12 answers loop" in refused.reason
    policy = Policy(metric="rougeL_vs_teacher", thresholds={"judge_win_rate": 0.4})
    assert gate(good, None, policy).action == "refuse"  # the judge says no ...
    ignored = gate(good, None, policy, [judge])  # ... but it only ever picked a position
    assert ignored.action == "promote" and "judge metrics ignored" in ignored.reason


@pytest.mark.parametrize(
    ("metrics", "champion", "action", "says"),
    [
        (dict(rougeL_vs_teacher=0.30), None, "promote", "there is no champion yet: promoted with test rougeL_vs_teacher = 0.3000"),
        (dict(rougeL_vs_teacher=0.35), dict(rougeL_vs_teacher=0.30), "promote", "+0.0500"),
        (dict(rougeL_vs_teacher=0.305), dict(rougeL_vs_teacher=0.30), "hold", "does not exceed min_delta 0.01"),
        (dict(rougeL_vs_teacher=0.19), None, "refuse", "rougeL_vs_teacher 0.1900 misses the threshold >= 0.2"),
        (dict(rougeL_vs_teacher=0.5, teacher_forced_kl=2.5), dict(rougeL_vs_teacher=0.3), "refuse",
         "teacher_forced_kl 2.5000 misses the threshold <= 2.0"),
    ],
)
def test_point_rules(metrics, champion, action, says):
    policy = Policy(metric="rougeL_vs_teacher", min_delta=0.01, decision="point",
                    thresholds={"rougeL_vs_teacher": 0.2, "teacher_forced_kl": 2.0})
    metrics = {"teacher_forced_kl": 1.5, **metrics}
    decision = gate(values(**metrics), None if champion is None else values(**champion), policy)
    assert decision.action == action
    assert says in decision.reason


def test_another_teacher_or_another_test_set_is_not_compared():
    ours = Identity(teacher="packaged:smollm2-135m-instruct", teacher_sha256="a" * 64, test_set_sha256="t" * 64)
    assert incomparable(ours, ours) is None
    tiny = Identity(teacher="tiny:teacher", teacher_sha256="b" * 64, test_set_sha256="t" * 64)
    assert "this challenger from tiny:teacher" in incomparable(tiny, ours)
    assert incomparable(tiny, ours, allow_teacher_change=True) is None
    retrained = ours.model_copy(update={"teacher_sha256": "c" * 64})
    assert "weights cccccccccccc" in incomparable(retrained, ours)
    other_test = ours.model_copy(update={"test_set_sha256": "u" * 64})
    assert "scored on another test set" in incomparable(other_test, ours)


def test_a_champion_without_the_metric_on_this_test_set_is_not_replaced_silently():
    decision = gate(scores(rougeL_vs_teacher=BASE + 0.2), scores(top1_agreement=BASE), Policy("rougeL_vs_teacher"))
    assert decision.action == "hold"
    assert "the champion has no rougeL_vs_teacher on this test set to compare with" in decision.reason
