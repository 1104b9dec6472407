"""Seed tasks: reading `seeds.jsonl` strictly and splitting it train / validation / test (see `splits`)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from fastdistill.config import DataConfig
from fastdistill.data.splits import TEST, assign_splits
from fastdistill.data.text_lines import utf8_lines

SEED_FIELDS = ("id", "category", "prompt", "reference")
CANDIDATE_COLUMNS = ["id", "category", "prompt", "reference", "source", "split"]
# Provenance and reasoning columns every candidate row carries from synthesis on, with their defaults.
OPTIONAL_DEFAULTS = {"operator": None, "parent_id": None, "needs_rationale": False, "rationale": None,
                     "answer": None, "agreement": float("nan")}


class SeedFileError(ValueError):
    """A seeds file that cannot be used; names the file, the line and the field."""


def _decoded_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every non-blank line; bytes are decoded per line so a bad byte is located."""
    if not path.read_bytes().strip():
        raise SeedFileError(f"{path}: the file is empty; write one JSON object per line with fields {list(SEED_FIELDS)}")
    return utf8_lines(path, SeedFileError)


def _seed_row(where: str, line: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise SeedFileError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(row, dict):
        raise SeedFileError(f"{where}: expected a JSON object with fields {list(SEED_FIELDS)}, got {type(row).__name__}")
    missing = [name for name in SEED_FIELDS if name not in row]
    if missing:
        raise SeedFileError(f"{where}: missing field(s) {missing}; every line needs {list(SEED_FIELDS)}")
    for name in SEED_FIELDS:
        if not isinstance(row[name], str) or not row[name].strip():
            raise SeedFileError(f"{where}: field '{name}' must be a non-empty string (got {row[name]!r})")
    return {name: row[name] for name in SEED_FIELDS}


def read_seeds(path: Path) -> pd.DataFrame:
    """The seed tasks of a JSONL file; any problem raises `SeedFileError` naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise SeedFileError(f"{path}: seeds file does not exist")
    rows, first_line = [], {}
    for number, line in _decoded_lines(path):
        row = _seed_row(f"{path}:{number}", line)
        if row["id"] in first_line:
            raise SeedFileError(f"{path}:{number}: id '{row['id']}' already used on line {first_line[row['id']]}; ids must be unique")
        first_line[row["id"]] = number
        rows.append(row)
    if len(rows) < 2:
        raise SeedFileError(f"{path}: needs at least 2 seed tasks, found {len(rows)}")
    return pd.DataFrame(rows)


def split_seeds(seeds: pd.DataFrame, validation_fraction: float, test_fraction: float, seed: int) -> pd.DataFrame:
    """Seeds as candidate rows with their split: `test_fraction` and `validation_fraction` of every category held out."""
    out = seeds.copy()
    out["source"] = "seed"
    out["split"] = assign_splits(out, validation_fraction, test_fraction, seed)
    return with_candidate_defaults(out[CANDIDATE_COLUMNS])


def with_candidate_defaults(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every optional candidate column present (operator defaults to the source)."""
    out = frame.copy()
    for name, default in OPTIONAL_DEFAULTS.items():
        if name not in out.columns:
            out[name] = out["source"] if name == "operator" else default
    out["operator"] = out["operator"].fillna(out["source"])
    out["needs_rationale"] = out["needs_rationale"].fillna(False).astype(bool)
    return out


def load_seeds(config: DataConfig) -> pd.DataFrame:
    """The run's seed rows, split. With `test_path` the test split is that file, and the seeds give train and
    validation only; an id in both files is refused (it would make the split ambiguous)."""
    seeds = read_seeds(Path(config.seeds_path))
    if config.max_seeds is not None:
        seeds = seeds.sample(n=min(config.max_seeds, len(seeds)), random_state=config.seed).sort_index()
    seeds = seeds.reset_index(drop=True)
    if config.test_path is None:
        return split_seeds(seeds, config.validation_fraction, config.test_fraction, config.seed)
    test = read_seeds(Path(config.test_path))
    shared = sorted(set(seeds["id"]) & set(test["id"]))
    if shared:
        raise SeedFileError(f"{config.test_path}: id(s) {shared[:5]} also in {config.seeds_path}; "
                            "a test row must not be a training seed")
    rest = split_seeds(seeds, config.validation_fraction, 0.0, config.seed)
    fixed = test.assign(source="seed", split=TEST)
    return pd.concat([rest, with_candidate_defaults(fixed[CANDIDATE_COLUMNS])], ignore_index=True)
