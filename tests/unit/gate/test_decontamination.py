"""Decontamination: a train or validation row sharing a 13-word n-gram with the test split or a benchmark file is
quarantined with the reason and the matched file; shorter overlaps and test rows themselves are left alone."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fastdistill.config import GateConfig
from fastdistill.gate.decontamination import TEST_SPLIT, contamination_reasons
from fastdistill.gate.quality import filter_rows

BENCH_QUESTION = ("A train leaves the station at nine in the morning travelling at sixty miles per hour towards "
                  "the coast, how far has it gone by noon?")
TEST_PROMPT = "Explain in plain words why the moon shows phases to someone on Earth during a single month."


def _candidates(prompts: list[str], splits: list[str]) -> pd.DataFrame:
    n = len(prompts)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "category": "qa", "prompt": prompts,
                          "reference": [f"answer {i}" for i in range(n)], "source": "seed", "split": splits,
                          "operator": "seed", "needs_rationale": False, "rationale": None, "messages": None})
    frame["prompt_tokens"] = [len(p.split()) for p in prompts]
    return frame


def test_a_training_row_quoting_13_words_of_a_test_prompt_is_rejected_12_are_not():
    words = TEST_PROMPT.split()
    quoting13 = "Please help: " + " ".join(words[1:14]) + " thanks"
    quoting12 = "Please help: " + " ".join(words[1:13]) + " thanks"
    frame = _candidates([TEST_PROMPT, quoting13, quoting12, "Unrelated question about cooking rice well."],
                        ["test", "train", "train", "validation"])
    found = contamination_reasons(frame, [], 13)
    assert set(found) == {1}
    assert found[1] == (f"contamination: shares the 13-gram '{' '.join(w.lower().strip('.') for w in words[1:14])}' "
                        f"with {TEST_SPLIT} row r0")
    assert set(contamination_reasons(frame, [], 12)) == {1, 2}  # the n-gram length is a setting


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_a_benchmark_file_in_any_format_is_named_in_the_quarantine(tmp_path, suffix):
    bench = tmp_path / f"bench.{suffix}"
    rows = [{"instruction": BENCH_QUESTION, "output": "Three hours at sixty miles per hour is 180 miles."},
            {"instruction": "Name a primary colour.", "output": "Red."}]
    if suffix == "jsonl":
        bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pd.DataFrame(rows).to_parquet(bench)
    leaked = "Word problem. " + BENCH_QUESTION.upper()  # case and punctuation do not hide it
    frame = _candidates([TEST_PROMPT, leaked, "Give three tips for sleeping better at night please."],
                        ["test", "train", "train"])
    kept, quarantine = filter_rows(frame, GateConfig(decontaminate=[str(bench)], semantic_duplicate_threshold=None,
                                                     min_prompt_tokens=1))
    assert quarantine["id"].tolist() == ["r1"] and kept["id"].tolist() == ["r0", "r2"]
    reason = quarantine["reasons"].iloc[0]
    assert reason.startswith("contamination: shares the 13-gram 'a train leaves the station") and str(bench) in reason


def test_a_training_reference_is_checked_too_and_test_rows_are_never_rejected():
    frame = _candidates([TEST_PROMPT, "Describe the lunar cycle."], ["test", "train"])
    frame.loc[1, "reference"] = "Put simply: " + TEST_PROMPT
    frame = pd.concat([frame, _candidates([TEST_PROMPT + " Also mention eclipses."], ["test"])], ignore_index=True)
    assert set(contamination_reasons(frame, [], 13)) == {1}


def test_chat_rows_are_compared_without_their_system_prompt():
    system = "You are a careful assistant who always answers in complete sentences and never uses slang at all."
    chat = [{"role": "system", "content": system}, {"role": "user", "content": "Hello there."}]
    frame = _candidates(["rendered 1", "rendered 2"], ["test", "train"])
    frame["messages"] = [json.dumps(chat), json.dumps([chat[0], {"role": "user", "content": "What is rain?"}])]
    assert contamination_reasons(frame, [], 13) == {}  # a shared 17-word system prompt is not contamination


def test_decontaminate_files_are_validated_and_hashed(tmp_path):
    with pytest.raises(ValueError, match=r"decontaminate\[0\]: file '.*missing.jsonl' does not exist"):
        GateConfig(decontaminate=[str(tmp_path / "missing.jsonl")])
    bench = tmp_path / "b.jsonl"
    bench.write_text(json.dumps({"prompt": "p", "reference": "r"}) + "\n")
    first = GateConfig(decontaminate=[str(bench)]).decontaminate_sha256
    bench.write_text(json.dumps({"prompt": "q", "reference": "r"}) + "\n")
    assert GateConfig(decontaminate=[str(bench)]).decontaminate_sha256 != first  # keys ZenML's cache


def test_a_preamble_many_rows_share_is_boilerplate_not_a_leak():
    preamble = "Read the following passage carefully and answer the question that comes after it in one sentence."
    test = f"{preamble} Passage: the moon orbits the Earth."
    many = [f"{preamble} Passage: topic number {i} is described here." for i in range(11)]
    frame = _candidates([test, *many], ["test"] + ["train"] * 11)
    assert contamination_reasons(frame, [], 13) == {}  # 11 rows share it: more than the default 10
    assert set(contamination_reasons(frame, [], 13, max_rows=11)) == set(range(1, 12))
    assert set(contamination_reasons(frame.iloc[:4], [], 13)) == {1, 2, 3}
