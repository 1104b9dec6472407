"""Pairwise judging: both orders, combined verdicts, and the LM judge on a tiny model."""

import pytest

from fastdistill.evaluation.judge import LMJudge, pairwise
from fastdistill.inference.hf import HFBackend


class AlwaysFirst:
    """A judge with pure position bias: whatever it reads, answer A wins with probability 0.9."""

    def prefer_first(self, triples):
        return [0.9 for _ in triples]


class Longer:
    """An unbiased judge that prefers the longer answer (0.5 when equally long)."""

    def prefer_first(self, triples):
        return [0.5 if len(a) == len(b) else 0.8 if len(a) > len(b) else 0.2 for _, a, b in triples]


class LongerButBiased:
    """Prefers the longer answer, but its position bias outweighs the content when answers are close."""

    def prefer_first(self, triples):
        return [min(1.0, max(0.0, 0.6 + 0.01 * (len(a) - len(b)))) for _, a, b in triples]


def test_pure_position_bias_cancels_to_ties():
    result = pairwise(AlwaysFirst(), ["q1", "q2"], ["short", "a much longer answer"], ["t", "t"])
    assert result.win_rate == 0.5 and result.consistency == 0.0
    assert result.first_position_rate == 1.0
    assert [p["outcome"] for p in result.pairs] == [0.5, 0.5]
    assert result.pairs[0]["p_student_as_a"] == pytest.approx(0.9)
    assert result.pairs[0]["p_student_as_b"] == pytest.approx(0.1)


def test_consistent_verdicts_count_as_wins_and_losses():
    result = pairwise(Longer(), ["q1", "q2", "q3"], ["long answer", "s", "same"], ["t", "longer answer", "same"])
    assert [p["outcome"] for p in result.pairs] == [1.0, 0.0, 0.5]
    assert result.win_rate == pytest.approx(0.5)
    assert result.consistency == 1.0  # a tie in both orders is consistent too
    assert result.first_position_rate == pytest.approx(0.5)
    assert result.preference == pytest.approx((0.8 + 0.8 + 0.2 + 0.2 + 0.5 + 0.5) / 6)


def test_order_swapping_exposes_bias_that_one_order_would_hide():
    # student 5 chars longer: as A 0.65 (win), as B 1 - 0.55 = 0.45 (loss): a tie, not the win one order claims
    result = pairwise(LongerButBiased(), ["q"], ["abcdefghij"], ["abcde"])
    assert result.pairs[0]["p_student_as_a"] == pytest.approx(0.65)
    assert result.pairs[0]["p_student_as_b"] == pytest.approx(0.45)
    assert result.win_rate == 0.5 and not result.pairs[0]["consistent"]
    # 50 chars longer: the content wins in both orders
    assert pairwise(LongerButBiased(), ["q"], ["x" * 60], ["x" * 10]).win_rate == 1.0


def test_lm_judge_on_identical_answers_is_always_a_tie(tiny_teacher_dir):
    judge = LMJudge(HFBackend(tiny_teacher_dir), batch_size=2)
    prompts = ["Name a color.", "What is 2+2?", "Say hello."]
    answers = ["Red.", "4", "Hello there!"]
    result = pairwise(judge, prompts, answers, answers)
    # both orders read the same text, so P(student better) as A and as B sum to exactly 1
    for pair in result.pairs:
        assert pair["p_student_as_a"] + pair["p_student_as_b"] == pytest.approx(1.0)
        assert pair["outcome"] == 0.5
    assert result.win_rate == 0.5


def test_lm_judge_batches_like_single_calls(tiny_teacher_dir):
    judge = LMJudge(HFBackend(tiny_teacher_dir), batch_size=3)
    triples = [("Name a color.", "Red", "Blue is a color"), ("2+2?", "4", "five"), ("Hi", "Hello!", "Go away")]
    batched = judge.prefer_first(triples)
    single = [judge.prefer_first([t])[0] for t in triples]
    assert batched == pytest.approx(single, abs=1e-5)
    assert all(0.0 < p < 1.0 for p in batched)
