"""Prompts in every common shape: each format and file type read from small files the tests write, and a malformed
row of each format refused with the file, the row and the column.

Chat rows are rendered with the packaged teacher tokenizer's real chat template (SmolLM2's)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest

from fastdistill.config import DataConfig
from fastdistill.data.formats import DataFileError, content_text, load_prompts
from fastdistill.data.seeds import load_seeds, read_seeds
from fastdistill.inference.chat import encode_chat_prompt, load_tokenizer, render_conversation

CHAT = [
    {"role": "system", "content": "You are a terse assistant for a bakery."},
    {"role": "user", "content": "How long do croissants keep?"},
    {"role": "assistant", "content": "Two days in a paper bag."},
    {"role": "user", "content": "And in the freezer?"},
    {"role": "assistant", "content": "About a month; reheat them at 180 C for five minutes."},
]


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def tokenizer(tiny_teacher_dir):
    return load_tokenizer(tiny_teacher_dir)


def test_seeds_jsonl_with_and_without_id_and_category(tmp_path):
    path = _jsonl(tmp_path / "s.jsonl", [{"id": "a", "category": "math", "prompt": "What is 2+2?", "reference": "4"},
                                         {"prompt": "Name a colour.", "reference": "Blue."}])
    frame = read_seeds(path)
    assert frame["id"].tolist()[0] == "a" and frame["category"].tolist() == ["math", "default"]
    assert frame["id"][1].startswith("row-") and frame["prompt"].tolist() == ["What is 2+2?", "Name a colour."]
    assert read_seeds(path)["id"][1] == frame["id"][1]  # content-hash ids are stable across reads
    path.write_text(path.read_text().replace("Blue.", "Red."))
    assert read_seeds(path)["id"][1] != frame["id"][1]  # ... and follow the content


def test_identical_rows_without_ids_get_distinct_ids(tmp_path):
    row = {"prompt": "Name a colour.", "reference": "Blue."}
    frame = read_seeds(_jsonl(tmp_path / "s.jsonl", [row, row, row]))
    assert frame["id"].nunique() == 3 and frame["id"][1] == frame["id"][0] + "-2"


def test_alpaca_json_array_joins_instruction_and_input(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
        {"instruction": "Give a synonym of happy.", "input": "", "output": "Glad"},
    ]))
    frame = read_seeds(path)
    assert frame["prompt"].tolist() == ["Translate to French.\n\nGood morning", "Give a synonym of happy."]
    assert frame["reference"].tolist() == ["Bonjour", "Glad"] and set(frame["category"]) == {"default"}


def test_chat_with_a_system_prompt_and_two_turns_is_rendered_with_the_teacher_template(tmp_path, tokenizer):
    other = [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi."}]
    path = _jsonl(tmp_path / "chat.jsonl", [{"messages": CHAT}, {"messages": other, "category": "greeting"}])
    frame = read_seeds(path, render=lambda c: render_conversation(tokenizer, c))
    conversation = CHAT[:-1]
    assert frame["reference"][0] == CHAT[-1]["content"]  # the last assistant turn
    assert json.loads(frame["messages"][0]) == conversation  # kept for later stages
    prompt = frame["prompt"][0]
    assert prompt == tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    assert CHAT[0]["content"] in prompt and "Two days in a paper bag." in prompt  # system prompt and earlier turns
    assert "You are a helpful AI assistant named SmolLM" not in prompt  # the user's system prompt replaces the default
    # Every backend encodes the rendered conversation as it is, not wrapped again as one user message.
    assert encode_chat_prompt(tokenizer, prompt) == tokenizer.apply_chat_template(
        conversation, tokenize=True, add_generation_prompt=True)["input_ids"]
    assert encode_chat_prompt(tokenizer, "Say hi.") == tokenizer.apply_chat_template(
        [{"role": "user", "content": "Say hi."}], tokenize=True, add_generation_prompt=True)["input_ids"]
    # Dedup and decontamination read the turns without the template's markup or the system prompt.
    assert content_text(prompt, frame["messages"][0]).splitlines() == [t["content"] for t in conversation[1:]]
    assert frame["category"].tolist() == ["default", "greeting"]


def test_parquet_with_a_columns_mapping(tmp_path):
    path = tmp_path / "export.parquet"
    pd.DataFrame({"question": ["Why is the sky blue?", "What is 3*4?"], "answer": ["Rayleigh scattering.", "12"],
                  "topic": ["science", "math"], "extra": [1, 2]}).to_parquet(path)
    frame = read_seeds(path, columns={"prompt": "question", "reference": "answer", "category": "topic"})
    assert frame["prompt"].tolist() == ["Why is the sky blue?", "What is 3*4?"]
    assert frame["category"].tolist() == ["science", "math"] and list(frame.columns) == [
        "id", "category", "prompt", "reference", "messages"]


def test_csv_and_a_save_to_disk_folder(tmp_path):
    csv = tmp_path / "prompts.csv"
    csv.write_text('instruction,input,output\n"Sum these, please.","2, 3",5\nSay yes.,,yes\n')
    assert read_seeds(csv)["prompt"].tolist() == ["Sum these, please.\n\n2, 3", "Say yes."]
    folder = tmp_path / "saved"
    datasets.Dataset.from_dict({"messages": [CHAT, CHAT[:3]]}).save_to_disk(str(folder))
    before = sorted(p.name for p in folder.iterdir())
    frame = read_seeds(folder)
    assert frame["reference"].tolist() == [CHAT[-1]["content"], CHAT[2]["content"]]
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written into the user's folder


def test_the_loader_returns_an_arrow_table_on_disk(tmp_path):
    path = _jsonl(tmp_path / "s.jsonl", [{"prompt": f"prompt {i}", "reference": "r"} for i in range(30)])
    table = load_prompts(path)
    assert isinstance(table, datasets.Dataset) and len(table) == 30
    assert table.cache_files  # memory-mapped from an Arrow file, not held in Python lists


MALFORMED = {
    "seeds": ([{"prompt": "ok prompt", "reference": "r"}, {"prompt": "another", "reference": 7}],
              r"s.jsonl:2, column 'reference': must be a string \(got 7\)"),
    "alpaca": ([{"instruction": "ok", "output": "o"}, {"instruction": " ", "output": "o"}],
               r"s.jsonl:2, column 'instruction': must be a non-empty string"),
    "chat": ([{"messages": CHAT}, {"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]}],
             r"s.jsonl:2, column 'messages': turn 2 must be \{role, content\} with role one of"),
}


@pytest.mark.parametrize("fmt", MALFORMED)
def test_a_malformed_row_names_file_line_and_column(tmp_path, fmt):
    rows, message = MALFORMED[fmt]
    with pytest.raises(DataFileError, match=message):
        read_seeds(_jsonl(tmp_path / "s.jsonl", rows), fmt)


@pytest.mark.parametrize("fmt, frame, message", [
    ("seeds", pd.DataFrame({"q": ["a prompt", None], "a": ["x", "y"]}), r"bad.parquet row 2, column 'q': missing"),
    ("alpaca", pd.DataFrame({"instruction": ["i", "j"], "output": ["o", ""]}), r"bad.parquet row 2, column 'output'"),
    ("chat", pd.DataFrame({"messages": [json.dumps(CHAT), json.dumps([{"role": "user", "content": "hi"}])]}),
     r"bad.parquet row 2, column 'messages': needs a list of at least two turns"),
])
def test_a_malformed_parquet_row_names_file_row_and_column(tmp_path, fmt, frame, message):
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path)
    columns = {"prompt": "q", "reference": "a"} if fmt == "seeds" else None
    with pytest.raises(DataFileError, match=message):
        read_seeds(path, fmt, columns)


def test_a_chat_row_must_end_with_the_answer(tmp_path):
    rows = [{"messages": CHAT}, {"messages": CHAT[:3]}, {"messages": CHAT[:4]}]
    with pytest.raises(DataFileError, match=r"s.jsonl:3, column 'messages': the last turn must be the assistant's"):
        read_seeds(_jsonl(tmp_path / "s.jsonl", rows))


def test_auto_detection_names_the_columns_when_nothing_or_several_match(tmp_path):
    with pytest.raises(DataFileError, match=r"columns \['question', 'solution'\] match no format .*data.columns"):
        read_seeds(_jsonl(tmp_path / "a.jsonl", [{"question": "q", "solution": "s"}] * 2))
    with pytest.raises(DataFileError, match=r"match several formats \['seeds', 'alpaca'\]; set data.format"):
        read_seeds(_jsonl(tmp_path / "b.jsonl", [{"prompt": "p", "reference": "r", "instruction": "i", "output": "o"}] * 2))
    with pytest.raises(DataFileError, match=r"data.columns names column\(s\) \['query'\] that the file lacks"):
        read_seeds(tmp_path / "a.jsonl", columns={"prompt": "query"})


def test_unreadable_sources_are_named(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataFileError, match=r"file '.*notes.txt' has suffix '.txt'"):
        read_seeds(tmp_path / "notes.txt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataFileError, match="was not written by datasets' save_to_disk"):
        read_seeds(tmp_path / "folder")


def test_data_config_path_format_and_the_older_seeds_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _jsonl(tmp_path / "a.jsonl", [{"instruction": f"Task number {i}", "output": "o", "category": "c"} for i in range(10)])
    assert DataConfig(seeds_path="a.jsonl").path == "a.jsonl" == DataConfig(path="a.jsonl").seeds_path
    with pytest.raises(ValueError, match="set data.path or its older name data.seeds_path, not both"):
        DataConfig(path="a.jsonl", seeds_path="a.jsonl")
    with pytest.raises(ValueError, match=r"\['question'\]: not a column of any format"):
        DataConfig(path="a.jsonl", columns={"question": "q"})
    frame = load_seeds(DataConfig(path="a.jsonl", format="alpaca"))
    assert len(frame) == 10 and set(frame["split"]) == {"train", "validation", "test"}
    with pytest.raises(DataFileError, match=r"format 'seeds' needs column\(s\) \['prompt', 'reference'\]"):
        load_seeds(DataConfig(path="a.jsonl", format="seeds"))


def test_a_chat_file_with_synthesis_on_is_refused_before_any_step(tmp_path):
    from fastdistill.run_config import ConfigError, validate_parameters

    path = _jsonl(tmp_path / "chat.jsonl", [{"messages": CHAT, "id": f"c{i}"} for i in range(4)])
    with pytest.raises(ConfigError, match="holds chat conversations; set synthesis.enabled: false"):
        validate_parameters({"data": {"path": str(path)}})
    bad = _jsonl(tmp_path / "bad.jsonl", [{"messages": CHAT}, {"messages": "not json"}])
    with pytest.raises(ConfigError, match=r"data: .*bad.jsonl:2, column 'messages': must be a list of \{role, content\} turns"):
        validate_parameters({"data": {"path": str(bad)}, "synthesis": {"enabled": False}})


def test_without_references_rows_may_lack_their_answer_and_are_still_checked(tmp_path):
    seeds = load_prompts(_jsonl(tmp_path / "p.jsonl", [{"prompt": "What is 2+2?", "reference": "4"},
                                                       {"prompt": "Write about rain."}]), references=False)
    assert seeds["reference"] == ["4", None]
    alpaca = load_prompts(_jsonl(tmp_path / "a.jsonl", [{"instruction": "Say yes."}]), references=False)
    assert alpaca["prompt"] == ["Say yes."] and alpaca["reference"] == [None]
    with pytest.raises(DataFileError, match=r"p.jsonl:2, column 'prompt': missing; it must be a non-empty string"):
        load_prompts(_jsonl(tmp_path / "p.jsonl", [{"prompt": "ok"}, {"reference": "no prompt"}]), references=False)
    with pytest.raises(DataFileError, match=r"data.columns maps \['question'\], not a column of any format"):
        load_prompts(tmp_path / "a.jsonl", columns={"question": "instruction"})
