"""Your own data straight to the gate (synthesis off): a chat file rendered with the (tiny) teacher's real tokenizer
and chat template, split, token-counted and gated with the real GX suite, with a benchmark file to decontaminate
against. Every row ends kept or quarantined with its reason; the teacher's backend encodes the rendered prompts as
the conversation they are."""

from __future__ import annotations

import json

from pathlib import Path

import pandas as pd

from fastdistill.config import DataConfig, GateConfig
from fastdistill.data.formats import load_prompts
from fastdistill.data.seeds import load_seeds, with_candidate_defaults
from fastdistill.gate.quality import filter_rows, run_gate
from fastdistill.inference.chat import encode_chat_prompt, load_tokenizer, render_conversation
from fastdistill.synthesis.candidates import add_token_counts

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [json.loads(line) for line in (ROOT / "data" / "seeds.jsonl").read_text().splitlines() if line.strip()]
BENCH = ("Explain how long cooked olives keep in the refrigerator and which signs show that they have gone bad and "
         "must be thrown away.")


def _conversation(first: dict, second: dict, system: bool) -> dict:
    turns = [{"role": "system", "content": "You answer questions in one or two sentences."}] if system else []
    turns += [{"role": "user", "content": first["prompt"]}, {"role": "assistant", "content": first["reference"]},
              {"role": "user", "content": second["prompt"]}, {"role": "assistant", "content": second["reference"]}]
    return {"messages": turns, "category": first["category"]}


def test_a_chat_file_goes_straight_to_the_gate_and_is_decontaminated(tmp_path, monkeypatch, tiny_teacher_dir):
    monkeypatch.chdir(tmp_path)
    rows = [_conversation(SEEDS[i], SEEDS[i + 36], system=i % 2 == 0) for i in range(36)]
    rows[8]["messages"][-2]["content"] += " Also: " + BENCH  # a benchmark question inside a training conversation
    rows.append(rows[10])  # an exact copy of a row: same content, so the same content id plus "-2"
    (tmp_path / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[6:]))
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:6]))
    pd.DataFrame([{"instruction": BENCH, "output": "About two weeks."}]).to_parquet("bench.parquet")

    tokenizer = load_tokenizer(tiny_teacher_dir)
    seeds = load_seeds(DataConfig(path="chat.jsonl", test_path="test.jsonl"), lambda c: render_conversation(tokenizer, c))
    candidates = add_token_counts(with_candidate_defaults(seeds), tokenizer)
    gate = GateConfig(decontaminate=["bench.parquet"], semantic_duplicate_threshold=None, min_rows=5,
                      max_prompt_chars=2000)
    kept, quarantine = filter_rows(candidates, gate)

    assert len(kept) + len(quarantine) == len(rows) and (seeds["split"] == "test").sum() == 6
    reasons = dict(zip(quarantine["id"], quarantine["reasons"]))
    assert reasons[seeds["id"][seeds["prompt"].str.contains("olives")].item()] == (
        "contamination: shares the 13-gram 'explain how long cooked olives keep in the refrigerator and which signs "
        "show' with bench.parquet row " + f"{load_prompts('bench.parquet')['id'][0]}")
    copy = [i for i in seeds["id"] if i.endswith("-2")]
    assert len(copy) == 1 and reasons[copy[0]].startswith("exact duplicate")
    # The shared system prompt and the template's markup do not make the conversations near duplicates.
    assert not any("near duplicate" in r for r in reasons.values()), reasons
    report = run_gate(kept, len(candidates), gate)
    assert report.passed, report.summary()

    row = kept.iloc[0]
    conversation = json.loads(row["messages"])
    assert encode_chat_prompt(tokenizer, row["prompt"]) == tokenizer.apply_chat_template(
        conversation, tokenize=True, add_generation_prompt=True)["input_ids"]
