"""Validate the shipped seed task set `data/seeds.jsonl`.

The seeds feed synthesis and evaluation, so a malformed row or a wrong
math/code reference would silently teach the student something false.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from pathlib import Path

import pytest

SEEDS_PATH = Path(__file__).resolve().parents[3] / "data" / "seeds.jsonl"
FIELDS = {"id", "category", "prompt", "reference"}
CATEGORIES = {"open_qa", "rewriting", "classification", "extraction", "math", "code"}
# A math reference reads "<python expression> = <value>. The answer is <value>."
MATH_REFERENCE = re.compile(r"(?P<expr>[0-9+\-*/(). ]+?) = (?P<value>-?\d+(?:\.\d+)?)\. The answer is (?P<answer>-?\d+(?:\.\d+)?)\.")


def _load_rows() -> list[dict[str, str]]:
    """Parse every non-blank line; fail with the line number on bad JSON."""
    rows = []
    for number, line in enumerate(SEEDS_PATH.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            pytest.fail(f"{SEEDS_PATH}:{number} is not valid JSON: {error}")
    return rows


ROWS = _load_rows()


def test_row_count_and_fields() -> None:
    assert len(ROWS) >= 60
    for row in ROWS:
        assert set(row) == FIELDS, f"{row.get('id')}: fields {sorted(row)} != {sorted(FIELDS)}"
        for field in FIELDS:
            assert isinstance(row[field], str) and row[field].strip(), f"{row['id']}: empty {field}"


def test_ids_and_prompts_unique() -> None:
    id_counts = Counter(row["id"] for row in ROWS)
    assert [i for i, n in id_counts.items() if n > 1] == []
    prompt_counts = Counter(row["prompt"].strip().lower() for row in ROWS)
    assert [p for p, n in prompt_counts.items() if n > 1] == []


def test_ids_match_category() -> None:
    for row in ROWS:
        assert re.fullmatch(rf"{row['category']}-\d{{3}}", row["id"]), row["id"]


def test_every_category_has_ten_rows() -> None:
    counts = Counter(row["category"] for row in ROWS)
    assert set(counts) == CATEGORIES
    assert all(counts[c] >= 10 for c in CATEGORIES), counts


def test_tiny_model_friendly_lengths() -> None:
    for row in ROWS:
        assert len(row["prompt"].split()) <= 60, row["id"]
        assert len(row["reference"].split()) <= 50, row["id"]


@pytest.mark.parametrize("row", [r for r in ROWS if r["category"] == "math"], ids=lambda r: r["id"])
def test_math_reference_expression_evaluates_to_answer(row: dict[str, str]) -> None:
    match = MATH_REFERENCE.fullmatch(row["reference"])
    assert match, f"{row['id']}: reference must read '<expr> = <n>. The answer is <n>.'"
    # The regex only admits digits, operators, dots, parentheses and spaces, so eval is safe here.
    value = eval(match["expr"], {"__builtins__": {}})  # noqa: S307
    assert value == pytest.approx(float(match["value"]))
    assert value == pytest.approx(float(match["answer"]))


CODE_FUNCTIONS = [r for r in ROWS if r["category"] == "code" and r["reference"].startswith("def ")]


def test_some_code_references_are_functions() -> None:
    assert len(CODE_FUNCTIONS) >= 5


@pytest.mark.parametrize("row", CODE_FUNCTIONS, ids=lambda r: r["id"])
def test_code_function_references_compile(row: dict[str, str]) -> None:
    reference = row["reference"]
    compile(reference, row["id"], "exec")
    tree = ast.parse(reference)
    assert isinstance(tree.body[0], ast.FunctionDef)
