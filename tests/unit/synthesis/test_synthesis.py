"""Generators on messy teacher output: Self-Instruct list parsing and novelty, Evol-Instruct elimination,
rationale parsing and self-consistency voting."""

import pytest
from pydantic import ValidationError

from fastdistill.config import SynthesisConfig
from fastdistill.synthesis import evol_instruct as evol
from fastdistill.synthesis.rationales import answer_key, majority, parse_rationale
from fastdistill.synthesis.self_instruct import (
    NoveltyFilter,
    build_requests,
    collect,
    parse_instructions,
    parse_numbered,
)

MESSY_LISTS = [
    ("Sure! Here are more:\n5. Name three fruits.\n6) Translate 'hello' to French.\n- Sort a list in Python.\nThanks",
     ["Name three fruits.", "Translate 'hello' to French.", "Sort a list in Python."]),
    ("**5.** **Describe a rainy day in Paris.**\n**6.** Task: Explain how vaccines work.",
     ["Describe a rainy day in Paris.", "Explain how vaccines work."]),
    ("5. Write a haiku about snow. 6. List two prime numbers above ten.",
     ["Write a haiku about snow.", "List two prime numbers above ten."]),
    ("Task 7: Summarise the causes of World War I.\n  Keep it under fifty words.\n\nInstruction 8 - \"Give a synonym for happy.\"",
     ["Summarise the causes of World War I. Keep it under fifty words.", "Give a synonym for happy."]),
    ("### 9. Compare cats and dogs as pets\n• 10. Convert 3 feet to centimetres", 
     ["Compare cats and dogs as pets", "Convert 3 feet to centimetres"]),
    ("I think the list is great and needs nothing more.", []),
    ("", []),
]


@pytest.mark.parametrize("text, expected", MESSY_LISTS)
def test_parse_numbered_on_messy_teacher_lists(text, expected):
    assert parse_numbered(text) == expected


def test_parse_instructions_rejects_truncated_repeated_and_unsuitable_items_with_reasons():
    text = "5. Name a fruit that is red.\n6. Name a fruit that is red.\n7. Draw a map of Italy for me.\n8. Hi\n9. Explain why the"
    kept, rejected = parse_instructions(text, finished=False)
    assert kept == ["Name a fruit that is red."]
    assert dict(rejected) == {
        "Explain why the": "truncated: the response hit the token budget inside this item",
        "Name a fruit that is red.": "repeated within the same response",
        "Draw a map of Italy for me.": "unsuitable for a text model: mentions draw",
        "Hi": "too few words: 1 < 3",
    }


def test_novelty_filter_rejects_near_copies_with_the_score_and_admits_new_tasks():
    novelty = NoveltyFilter(0.7, ["Write a haiku about the sea."])
    reason = novelty.admit("Write a haiku about the sea!")
    assert reason is not None and "ROUGE-L 1.00 >= 0.7" in reason
    assert novelty.admit("Write a short haiku about the cold sea.") is not None  # ROUGE-L 0.83
    assert novelty.admit("List three prime numbers greater than ten.") is None
    assert novelty.pool[-1] == "List three prime numbers greater than ten."
    assert novelty.admit("List three prime numbers greater than twenty.") is not None  # the pool grows with admissions


def test_collect_keeps_every_item_either_as_candidate_or_with_a_reason():
    config = SynthesisConfig(num_requests=2)
    responses = ["4. Explain photosynthesis briefly.\n5. Explain photosynthesis briefly, please.", "no list here"]
    pool = ["Name a color."]
    candidates, rejected = collect(responses, pool, config)
    assert candidates["prompt"].tolist() == ["Explain photosynthesis briefly."]
    assert set(candidates["split"]) == {"train"} and set(candidates["source"]) == {"self_instruct"}
    assert pool[-1] == "Explain photosynthesis briefly."
    assert sorted(rejected["reasons"].str.split(":").str[0]) == ["no numbered instruction could be parsed", "not novel"]


def test_requests_mix_seeds_with_earlier_generations_and_are_reproducible():
    seeds = [f"seed task number {i}" for i in range(10)]
    generated = ["machine task alpha", "machine task beta"]
    config = SynthesisConfig(num_requests=4, examples_per_request=3, machine_examples_per_request=1, seed=7)
    first = build_requests(seeds, config, generated, 4, round_index=1)
    assert first == build_requests(seeds, config, generated, 4, round_index=1)
    assert all("starting at 4" in r for r in first)
    assert all(sum("machine task" in line for line in r.splitlines()) == 1 for r in first)
    assert all("machine task" not in r for r in build_requests(seeds, config, [], 4))


def test_synthesis_config_rejects_inconsistent_values_naming_the_field():
    with pytest.raises(ValidationError, match="machine_examples_per_request"):
        SynthesisConfig(examples_per_request=2, machine_examples_per_request=2)
    with pytest.raises(ValidationError, match="evol_operators"):
        SynthesisConfig(evol_operators=["deepen", "widen"])


ORIGINAL = "Why do we have seasons on Earth?"


@pytest.mark.parametrize("reply, operator, reason", [
    ("Why do we have seasons on Earth?\n\nThe rewritten prompt is:\n\nWhy do we have seasons on Earth?", "deepen", "copied the prompt"),
    ("I'm sorry, but as an AI I cannot rewrite this prompt for you today.", "add_constraints", "became a refusal"),
    ("Why seasons?", "concretize", "shorter than the original"),
    ("Rewrite the given prompt so it asks about the tilt of the Earth and its orbit around the Sun.", "deepen",
     "echoed the template"),
    ("", "breadth", "empty"),
])
def test_evol_elimination_drops_failed_evolutions_with_the_reason(reply, operator, reason):
    _, why = evol.judge(ORIGINAL, reply, operator)
    assert why is not None and reason in why


def test_evol_keeps_a_real_evolution_and_strips_template_markers():
    reply = ("#Rewritten Prompt#:\n\"Explain why Earth has seasons, referring to its axial tilt and comparing the "
             "northern and southern hemispheres in June.\"\n\nThis prompt is harder.")
    evolved, why = evol.judge(ORIGINAL, reply, "increase_reasoning")
    assert why is None
    assert evolved.startswith("Explain why Earth has seasons") and evolved.endswith("in June.")
    assert "Add one more constraint" in evol.evolution_prompt(ORIGINAL, "add_constraints")
    assert "brand new prompt" in evol.evolution_prompt(ORIGINAL, "breadth")


@pytest.mark.parametrize("text, answer", [
    ("Rationale: 7 pens at 3 dollars is 7 * 3 = 21 dollars.\nAnswer: 21", "21"),
    ("**Reasoning:** each pen costs 3, seven pens cost 21.\n**Final answer:** $21.", "$21"),
    ("Seven pens at three dollars each make twenty-one. The answer is 21.", "21"),
    ("We add 19 and 23 to get 42 in total.\n#### 42", "42"),
])
def test_parse_rationale_accepts_the_usual_answer_shapes(text, answer):
    parsed = parse_rationale(text)
    assert parsed.problem is None and parsed.answer == answer and len(parsed.rationale.split()) >= 3


@pytest.mark.parametrize("text, problem", [
    ("1. Let's start by setting up the problem: 7 pens = 3 x 10 = 30 pens\n2. Now, let's calculate", "no final answer"),
    ("Answer: 21", "no rationale"),
    ("Rationale: it is 3 times 7 which is easy.\nAnswer:", "no final answer"),
])
def test_parse_rationale_rejects_unparseable_replies_with_the_reason(text, problem):
    parsed = parse_rationale(text)
    assert parsed.answer is None and parsed.problem.startswith(problem)


def test_self_consistency_keeps_the_majority_answer_and_records_agreement():
    replies = ["Rationale: 3 * 7 = 21.\nAnswer: 21", "Rationale: three sevens are 21 dollars.\nAnswer: $21.00",
               "Rationale: 3 + 7 = 10 obviously.\nAnswer: 10", "no idea"]
    vote = majority(replies)
    assert answer_key(vote.answer) == "21" and vote.agreement == 0.5 and vote.problem is None
    assert vote.rationale == "3 * 7 = 21."
    low = majority(replies, min_agreement=0.75)
    assert low.answer is None and low.problem.startswith("low agreement: 2 of 4 samples agree")
    none = majority(["hmm", "no"])
    assert none.problem.startswith("rationale unparseable: no final answer") and none.agreement == 0.0
