"""Pairwise judging: both orders, combined verdicts, and the LM judge on a tiny model."""

import json

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


class Recording:
    """A judge without an opinion that keeps the requests it was shown."""

    def __init__(self):
        self.requests = []

    def prefer_first(self, triples):
        self.requests += [request for request, _, _ in triples]
        return [0.5 for _ in triples]


def test_the_judge_reads_a_chat_rows_conversation_as_plain_turns_not_the_template(tiny_teacher_dir, tmp_path):
    """The prompt the teacher answers is the conversation rendered with its chat template; the judge reads the turns
    (carried by labelling and the stored shards) as plain text."""
    from fastdistill.config import EvaluationConfig, TeacherConfig
    from fastdistill.evaluation.evaluate_file import read_prompts
    from fastdistill.evaluation.suite import evaluate_student
    from fastdistill.inference.chat import render_conversation
    from fastdistill.inference.labelling import label
    from fastdistill.inference.topk_store import TeacherOutputs

    turns = [{"role": "system", "content": "You are a terse assistant for a bakery."},
             {"role": "user", "content": "How long do croissants keep?"},
             {"role": "assistant", "content": "Two days in a paper bag."},
             {"role": "user", "content": "And in the freezer?"}]
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": [*turns, {"role": "assistant", "content": "About a month."}]}) + "\n"
                    + json.dumps({"messages": turns[1:2]}) + "\n")  # no answer: references are optional here
    backend = HFBackend(tiny_teacher_dir)
    frame = read_prompts(path, render=lambda conversation: render_conversation(backend.tokenizer, conversation))
    assert "<|im_start|>" in frame["prompt"][0]  # the teacher's template (SmolLM2's)
    outputs = label(backend, frame, TeacherConfig(model="tiny:teacher", top_k=4, max_new_tokens=3))
    outputs.save(tmp_path / "outputs")
    judge = Recording()
    evaluate_student(backend, TeacherOutputs.load(tmp_path / "outputs"),
                     EvaluationConfig(max_new_tokens=3, judge_pairs=2, efficiency_prompts=0), judge_backend=judge)
    conversation = ("System: You are a terse assistant for a bakery.\nUser: How long do croissants keep?\n"
                    "Assistant: Two days in a paper bag.\nUser: And in the freezer?")
    assert judge.requests == [conversation, "User: How long do croissants keep?"] * 2  # both orders
