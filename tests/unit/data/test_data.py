"""The strict seeds reader and the train/validation/test split (the shipped file itself: test_seeds_file.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastdistill.config import DataConfig
from fastdistill.data.seeds import SeedFileError, load_seeds, read_seeds, split_seeds
from fastdistill.data.splits import _counts, ids_of

SEEDS = Path(__file__).resolve().parents[3] / "data" / "seeds.jsonl"
CATEGORIES = {"open_qa", "rewriting", "classification", "extraction", "math", "code"}


def test_split_is_three_disjoint_stratified_seeded_parts():
    seeds = read_seeds(SEEDS)
    a, b = split_seeds(seeds, 0.15, 0.2, seed=0), split_seeds(seeds, 0.15, 0.2, seed=0)
    assert a.equals(b)
    parts = {s: ids_of(a, s) for s in ("train", "validation", "test")}
    assert not (parts["train"] & parts["validation"]) and not (parts["train"] & parts["test"])
    assert not (parts["validation"] & parts["test"])
    assert set().union(*parts.values()) == set(seeds["id"])
    for split, fraction in (("test", 0.2), ("validation", 0.15)):
        held_out = a[a["split"] == split]
        assert set(held_out["category"]) == CATEGORIES  # every category is represented
        assert len(held_out) == sum(max(1, round(n * fraction)) for n in seeds["category"].value_counts())
    assert not split_seeds(seeds, 0.15, 0.2, seed=1).equals(a)
    assert set(a["source"]) == {"seed"}


@pytest.mark.parametrize(("n", "expected"), [(1, (0, 0)), (2, (0, 1)), (3, (1, 1)), (10, (2, 2)), (20, (3, 4))])
def test_small_categories_keep_a_training_row_and_hold_out_test_first(n, expected):
    assert _counts(n, 0.15, 0.2) == expected


def test_a_fixed_test_file_is_the_test_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [{"id": f"s{i}", "category": "c", "prompt": f"seed prompt {i}", "reference": "r"} for i in range(10)]
    (tmp_path / "seeds.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    fixed = [{"id": f"t{i}", "category": "c", "prompt": f"my test {i}", "reference": "r"} for i in range(3)]
    (tmp_path / "test.jsonl").write_text("\n".join(json.dumps(r) for r in fixed))
    frame = load_seeds(DataConfig(seeds_path="seeds.jsonl", test_path="test.jsonl"))
    assert ids_of(frame, "test") == {"t0", "t1", "t2"}
    assert ids_of(frame, "validation") and ids_of(frame, "train") and not ids_of(frame, "train") & {"t0", "t1", "t2"}
    (tmp_path / "test.jsonl").write_text(json.dumps(rows[0]) + "\n" + json.dumps(fixed[0]))
    with pytest.raises(SeedFileError, match=r"id\(s\) \['s0'\] also in seeds.jsonl"):
        load_seeds(DataConfig(seeds_path="seeds.jsonl", test_path="test.jsonl"))


GOOD = json.dumps({"id": "a", "category": "c", "prompt": "p", "reference": "r"})


@pytest.mark.parametrize("line, message", [
    ("not json", r"seeds.jsonl:2: not valid JSON \(Expecting value at column 1\)"),
    (json.dumps({"id": "b", "category": "c", "prompt": "", "reference": "r"}), r"seeds.jsonl:2, column 'prompt': must be a non-empty string"),
    (json.dumps({"id": "b", "prompt": "p"}), r"seeds.jsonl:2, column 'reference': missing"),
    (json.dumps({"id": "a", "category": "c", "prompt": "p", "reference": "r"}), r"seeds.jsonl:2, column 'id': id 'a' already used on line 1"),
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
    with pytest.raises(ConfigError, match=r"data: .*seeds.jsonl:2, column 'id': id 'a' already used on line 1"):
        validate_parameters({"data": {"seeds_path": str(path)}})
