"""Seed tasks: reading `seeds.jsonl` strictly and splitting it train/eval."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd

from fastdistill.config import DataConfig

SEED_FIELDS = ("id", "category", "prompt", "reference")
CANDIDATE_COLUMNS = ["id", "category", "prompt", "reference", "source", "split"]


class SeedFileError(ValueError):
    """A seeds file that cannot be used; names the file, the line and the field."""


def read_seeds(path: Path) -> pd.DataFrame:
    rows, seen = [], set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise SeedFileError(f"{where}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise SeedFileError(f"{where}: expected a JSON object with fields {list(SEED_FIELDS)}")
        for name in SEED_FIELDS:
            if not isinstance(row.get(name), str) or not row[name].strip():
                raise SeedFileError(f"{where}: field '{name}' must be a non-empty string (got {row.get(name)!r})")
        if row["id"] in seen:
            raise SeedFileError(f"{where}: id '{row['id']}' appears twice; ids must be unique")
        seen.add(row["id"])
        rows.append({name: row[name] for name in SEED_FIELDS})
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
    return out[CANDIDATE_COLUMNS]


def load_seeds(config: DataConfig) -> pd.DataFrame:
    seeds = read_seeds(Path(config.seeds_path))
    if config.max_seeds is not None:
        seeds = seeds.sample(n=min(config.max_seeds, len(seeds)), random_state=config.seed).sort_index()
    return split_seeds(seeds.reset_index(drop=True), config.eval_fraction, config.seed)
