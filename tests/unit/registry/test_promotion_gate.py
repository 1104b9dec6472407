"""The promotion gate's decision table: promote, hold, refuse (thresholds, margin, must-not-regress)."""

import pytest

from fastdistill.registry.promotion import Policy, gate

POLICY = Policy(
    metric="rougeL_vs_teacher",
    min_delta=0.01,
    thresholds={"rougeL_vs_teacher": 0.20, "teacher_forced_kl": 2.0},
    must_not_regress=("top1_agreement", "ece"),
    regression_tolerance=0.02,
)
CHAMPION = {"rougeL_vs_teacher": 0.30, "teacher_forced_kl": 1.5, "top1_agreement": 0.60, "ece": 0.10}


def challenger(**changes):
    return {**CHAMPION, **changes}


@pytest.mark.parametrize(
    ("metrics", "champion", "action", "says"),
    [
        (challenger(), None, "promote", "there is no champion yet: promoted with rougeL_vs_teacher = 0.3000"),
        (challenger(rougeL_vs_teacher=0.35), CHAMPION, "promote", "0.3500 beats the champion's 0.3000 by more than 0.01"),
        (challenger(rougeL_vs_teacher=0.305), CHAMPION, "hold", "0.3050 does not beat the champion's 0.3000 by more than 0.01"),
        (challenger(rougeL_vs_teacher=0.25), CHAMPION, "hold", "does not beat"),
        # thresholds: at least for higher-is-better, at most for lower-is-better (KL); a miss refuses even a winner
        (challenger(rougeL_vs_teacher=0.19), None, "refuse", "rougeL_vs_teacher 0.1900 misses the threshold >= 0.2"),
        (challenger(rougeL_vs_teacher=0.5, teacher_forced_kl=2.5), CHAMPION, "refuse",
         "teacher_forced_kl 2.5000 misses the threshold <= 2.0"),
        # must-not-regress: worse than the champion beyond the tolerance refuses, within it does not
        (challenger(rougeL_vs_teacher=0.5, top1_agreement=0.55), CHAMPION, "refuse",
         "top1_agreement regresses: 0.5500 vs the champion's 0.6000 (tolerance 0.02)"),
        (challenger(rougeL_vs_teacher=0.5, top1_agreement=0.59), CHAMPION, "promote", "beats"),
        (challenger(rougeL_vs_teacher=0.5, ece=0.15), CHAMPION, "refuse", "ece regresses: 0.1500 vs the champion's 0.1000"),
        (challenger(rougeL_vs_teacher=0.5, ece=0.05), CHAMPION, "promote", "beats"),  # lower ECE is better
        # with no champion there is nothing to regress from
        (challenger(top1_agreement=0.1), None, "promote", "no champion yet"),
    ],
)
def test_gate_table(metrics, champion, action, says):
    decision = gate(metrics, champion, POLICY)
    assert decision.action == action
    assert says in decision.reason


def test_every_refusal_is_listed_and_unmeasured_metrics_refuse():
    metrics = {"rougeL_vs_teacher": 0.1, "top1_agreement": 0.3}
    decision = gate(metrics, CHAMPION, POLICY)
    assert decision.action == "refuse"
    assert decision.reasons == (
        "rougeL_vs_teacher 0.1000 misses the threshold >= 0.2",
        "threshold metric teacher_forced_kl was not measured",
        "top1_agreement regresses: 0.3000 vs the champion's 0.6000 (tolerance 0.02)",
        "must-not-regress metric ece was not measured",
    )


def test_ranking_direction_comes_from_the_metric_unless_configured():
    kl = Policy(metric="teacher_forced_kl")
    assert gate({"teacher_forced_kl": 1.0}, {"teacher_forced_kl": 1.2}, kl).action == "promote"
    assert gate({"teacher_forced_kl": 1.3}, {"teacher_forced_kl": 1.2}, kl).action == "hold"
    flipped = Policy(metric="teacher_forced_kl", greater_is_better=True)
    assert gate({"teacher_forced_kl": 1.3}, {"teacher_forced_kl": 1.2}, flipped).action == "promote"


def test_champion_without_the_ranking_metric_is_replaced():
    decision = gate({"rougeL_vs_teacher": 0.3}, {"top1_agreement": 0.5}, Policy(metric="rougeL_vs_teacher"))
    assert decision.action == "promote" and "has no recorded rougeL_vs_teacher" in decision.reason
