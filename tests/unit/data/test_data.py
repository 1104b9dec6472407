"""The strict seeds reader and the train/eval split (the shipped file itself: test_seeds_file.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastdistill.data.seeds import SeedFileError, read_seeds, split_seeds

SEEDS = Path(__file__).resolve().parents[3] / "data" / "seeds.jsonl"
CATEGORIES = {"open_qa", "rewriting", "classification", "extraction", "math", "code"}


def test_split_holds_out_every_category_and_is_deterministic():
    seeds = read_seeds(SEEDS)
    a, b = split_seeds(seeds, 0.2, seed=0), split_seeds(seeds, 0.2, seed=0)
    assert a.equals(b)
    held_out = a[a["split"] == "eval"]
    assert set(held_out["category"]) == CATEGORIES
    assert len(held_out) == sum(round(n * 0.2) for n in seeds["category"].value_counts())
    assert set(a["source"]) == {"seed"}


GOOD = json.dumps({"id": "a", "category": "c", "prompt": "p", "reference": "r"})


@pytest.mark.parametrize("line, message", [
    ("not json", r"seeds.jsonl:2: not valid JSON \(Expecting value at column 1\)"),
    (json.dumps({"id": "b", "category": "c", "prompt": "", "reference": "r"}), r"seeds.jsonl:2: field 'prompt' must be a non-empty string"),
    (json.dumps({"id": "b", "prompt": "p"}), r"seeds.jsonl:2: missing field\(s\) \['category', 'reference'\]"),
    (json.dumps({"id": "a", "category": "c", "prompt": "p", "reference": "r"}), r"seeds.jsonl:2: id 'a' already used on line 1"),
    (json.dumps(["a"]), r"seeds.jsonl:2: expected a JSON object .* got list"),
])
def test_bad_seed_lines_name_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "seeds.jsonl"
    path.write_text(GOOD + "\n" + line + "\n")
    with pytest.raises(SeedFileError, match=message):
        read_seeds(path)


def test_non_utf8_bytes_name_the_line_and_byte(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_bytes(GOOD.encode() + b"\n\n" + '{"id": "b", "category": "c", "prompt": "caf'.encode() + b"\xe9" + b'", "reference": "r"}\n')
    with pytest.raises(SeedFileError, match=r"seeds.jsonl:3: not UTF-8 \(byte 0xe9 at column 44\)"):
        read_seeds(path)


@pytest.mark.parametrize("content", [b"", b"\n  \n"])
def test_empty_file_is_an_error(tmp_path, content):
    path = tmp_path / "seeds.jsonl"
    path.write_bytes(content)
    with pytest.raises(SeedFileError, match=r"seeds.jsonl: the file is empty"):
        read_seeds(path)


def test_a_bad_seeds_file_fails_config_validation_before_any_step(tmp_path):
    from fastdistill.run_config import ConfigError, validate_parameters

    path = tmp_path / "seeds.jsonl"
    path.write_text(GOOD + "\n" + GOOD + "\n")
    with pytest.raises(ConfigError, match=r"data: .*seeds.jsonl:2: id 'a' already used on line 1"):
        validate_parameters({"data": {"seeds_path": str(path)}})
