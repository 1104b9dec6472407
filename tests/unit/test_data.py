"""The strict seeds reader and the train/eval split (the shipped file itself: test_seeds_file.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastdistill.data import SeedFileError, read_seeds, split_seeds

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seeds.jsonl"
CATEGORIES = {"open_qa", "rewriting", "classification", "extraction", "math", "code"}


def test_split_holds_out_every_category_and_is_deterministic():
    seeds = read_seeds(SEEDS)
    a, b = split_seeds(seeds, 0.2, seed=0), split_seeds(seeds, 0.2, seed=0)
    assert a.equals(b)
    held_out = a[a["split"] == "eval"]
    assert set(held_out["category"]) == CATEGORIES
    assert len(held_out) == sum(round(n * 0.2) for n in seeds["category"].value_counts())
    assert set(a["source"]) == {"seed"}


@pytest.mark.parametrize("line, message", [
    ("not json", r"seeds.jsonl:2: not valid JSON"),
    (json.dumps({"id": "b", "category": "c", "prompt": "", "reference": "r"}), r"seeds.jsonl:2: field 'prompt' must be a non-empty string"),
    (json.dumps({"id": "a", "category": "c", "prompt": "p", "reference": "r"}), r"seeds.jsonl:2: id 'a' appears twice"),
    (json.dumps(["a"]), r"seeds.jsonl:2: expected a JSON object"),
])
def test_bad_seed_lines_name_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "seeds.jsonl"
    path.write_text(json.dumps({"id": "a", "category": "c", "prompt": "p", "reference": "r"}) + "\n" + line + "\n")
    with pytest.raises(SeedFileError, match=message):
        read_seeds(path)
