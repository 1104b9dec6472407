"""Self-Instruct parsing and the ROUGE-L novelty filter."""

from fastdistill.config import SynthesisConfig
from fastdistill.synthesis import NoveltyFilter, build_requests, collect, parse_numbered


def test_parse_numbered_accepts_common_list_shapes_and_ignores_prose():
    text = "Sure! Here are more:\n5. Name three fruits.\n6) Translate 'hello' to French.\n- Sort a list in Python.\nThanks"
    assert parse_numbered(text) == ["Name three fruits.", "Translate 'hello' to French.", "Sort a list in Python."]


def test_novelty_filter_rejects_near_copies_with_the_score_and_admits_new_tasks():
    novelty = NoveltyFilter(0.7, ["Write a haiku about the sea."])
    reason = novelty.admit("Write a haiku about the sea!")
    assert reason is not None and "ROUGE-L 1.00 >= 0.7" in reason
    assert novelty.admit("List three prime numbers greater than ten.") is None
    assert novelty.pool[-1] == "List three prime numbers greater than ten."


def test_collect_keeps_every_row_either_as_candidate_or_with_a_reason():
    config = SynthesisConfig(num_requests=2)
    responses = ["4. Explain photosynthesis briefly.\n5. Explain photosynthesis briefly.", "no list here"]
    candidates, rejected = collect(responses, ["Name a color."], config)
    assert candidates["prompt"].tolist() == ["Explain photosynthesis briefly."]
    assert set(candidates["split"]) == {"train"} and set(candidates["source"]) == {"self_instruct"}
    assert len(rejected) == 2
    assert set(rejected["reasons"].str.split(":").str[0]) == {"not novel", "no numbered instruction could be parsed"}


def test_requests_are_reproducible_for_a_seed():
    pool = [f"task {i}" for i in range(10)]
    config = SynthesisConfig(num_requests=3, examples_per_request=2, seed=7)
    assert build_requests(pool, config) == build_requests(pool, config)
    assert all("starting at 3" in r for r in build_requests(pool, config))
