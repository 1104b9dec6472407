"""Seed tasks: reading `seeds.jsonl` strictly and splitting it train/eval."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd

from fastdistill.config import DataConfig

SEED_FIELDS = ("id", "category", "prompt", "reference")
CANDIDATE_COLUMNS = ["id", "category", "prompt", "reference", "source", "split"]
# Provenance and reasoning columns every candidate row carries from synthesis on, with their defaults.
OPTIONAL_DEFAULTS = {"operator": None, "parent_id": None, "needs_rationale": False, "rationale": None,
                     "answer": None, "agreement": float("nan")}


class SeedFileError(ValueError):
    """A seeds file that cannot be used; names the file, the line and the field."""


def _decoded_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every non-blank line; bytes are decoded per line so a bad byte is located."""
    raw = path.read_bytes()
    if not raw.strip():
        raise SeedFileError(f"{path}: the file is empty; write one JSON object per line with fields {list(SEED_FIELDS)}")
    lines = []
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as err:
            raise SeedFileError(
                f"{path}:{number}: not UTF-8 (byte 0x{chunk[err.start]:02x} at column {err.start + 1}); save the file as UTF-8"
            ) from None
        if text.strip():
            lines.append((number, text.removeprefix("\ufeff")))
    return lines


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


def split_seeds(seeds: pd.DataFrame, eval_fraction: float, seed: int) -> pd.DataFrame:
    """Hold out `eval_fraction` of every category (at least one row where a category has two or more)."""
    rng = random.Random(seed)
    eval_ids = set()
    for _, group in seeds.groupby("category", sort=True):
        ids = sorted(group["id"])
        rng.shuffle(ids)
        n_eval = round(len(ids) * eval_fraction)
        if len(ids) >= 2:
            n_eval = min(max(n_eval, 1), len(ids) - 1)
        eval_ids.update(ids[:n_eval])
    out = seeds.copy()
    out["source"] = "seed"
    out["split"] = ["eval" if i in eval_ids else "train" for i in out["id"]]
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
    seeds = read_seeds(Path(config.seeds_path))
    if config.max_seeds is not None:
        seeds = seeds.sample(n=min(config.max_seeds, len(seeds)), random_state=config.seed).sort_index()
    return split_seeds(seeds.reset_index(drop=True), config.eval_fraction, config.seed)
