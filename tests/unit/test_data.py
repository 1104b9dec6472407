"""The shipped seed tasks and the strict seeds reader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fastdistill.data import SeedFileError, read_seeds, split_seeds

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seeds.jsonl"
CATEGORIES = {"open_qa", "rewriting", "classification", "extraction", "math", "code"}


def test_shipped_seeds_are_diverse_and_unique():
    seeds = read_seeds(SEEDS)
    assert len(seeds) >= 60
    assert seeds["id"].is_unique and seeds["prompt"].is_unique
    counts = seeds["category"].value_counts()
    assert set(counts.index) == CATEGORIES and counts.min() >= 10


def test_math_references_state_a_correct_answer():
    for row in read_seeds(SEEDS).query("category == 'math'").itertuples():
        expression, answer = re.fullmatch(r"(.+) = (\S+)\. The answer is (\S+)\.", row.reference).group(1, 3)
        assert eval(expression) == pytest.approx(float(answer)), row.id


def test_code_references_that_define_functions_compile():
    for row in read_seeds(SEEDS).query("category == 'code'").itertuples():
        if row.reference.startswith("def "):
            compile(row.reference, row.id, "exec")


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
