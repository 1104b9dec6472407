"""Seed tasks: reading the prompts strictly (any format of `formats`) and splitting them train / validation / test
(see `splits`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fastdistill.config import DataConfig
from fastdistill.data.formats import DataFileError, RenderChat, load_prompts
from fastdistill.data.splits import TEST, assign_splits

SEED_FIELDS = ("id", "category", "prompt", "reference")
CANDIDATE_COLUMNS = ["id", "category", "prompt", "reference", "source", "split"]
# Provenance and reasoning columns every candidate row carries from synthesis on, with their defaults. `messages`
# is a chat row's conversation (JSON), whose rendering with the teacher's chat template is the prompt.
OPTIONAL_DEFAULTS = {"operator": None, "parent_id": None, "needs_rationale": False, "rationale": None,
                     "answer": None, "agreement": float("nan"), "messages": None}

SeedFileError = DataFileError
"""The older name of `DataFileError`: a data file that cannot be used, naming the file, the row and the column."""


def read_seeds(path: Path, fmt: str = "auto", columns: dict[str, str] | None = None, render: RenderChat | None = None,
               render_key: str = "") -> pd.DataFrame:
    """The prompts of a data file in any supported format (`fastdistill.data.formats`), as a DataFrame with columns
    id, category, prompt, reference, messages; any problem raises `DataFileError` naming file, row and column."""
    frame = load_prompts(path, fmt, columns, render, render_key, min_rows=2).to_pandas()
    # None, not NaN, where a row is no chat: the column must read back the same from an artifact's Parquet.
    frame["messages"] = frame["messages"].astype(object).where(frame["messages"].notna(), None)
    return frame


def split_seeds(seeds: pd.DataFrame, validation_fraction: float, test_fraction: float, seed: int) -> pd.DataFrame:
    """Seeds as candidate rows with their split: `test_fraction` and `validation_fraction` of every category held out."""
    out = seeds.copy()
    out["source"] = "seed"
    out["split"] = assign_splits(out, validation_fraction, test_fraction, seed)
    return with_candidate_defaults(out[CANDIDATE_COLUMNS + [c for c in ("messages",) if c in out]])


def with_candidate_defaults(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every optional candidate column present (operator defaults to the source)."""
    out = frame.copy()
    for name, default in OPTIONAL_DEFAULTS.items():
        if name not in out.columns:
            out[name] = out["source"] if name == "operator" else default
    out["operator"] = out["operator"].fillna(out["source"])
    out["needs_rationale"] = out["needs_rationale"].fillna(False).astype(bool)
    return out


def load_seeds(config: DataConfig, render: RenderChat | None = None, render_key: str = "") -> pd.DataFrame:
    """The run's prompt rows, split. With `test_path` the test split is that file (same format and columns), and
    `path` gives train and validation only; an id in both files is refused (it would make the split ambiguous).
    `render` is the teacher's chat template for chat rows (`fastdistill.inference.chat.render_conversation`)."""
    def read(path: str) -> pd.DataFrame:
        return read_seeds(Path(path), config.format, config.columns, render, render_key)

    seeds = read(config.path)
    if config.max_seeds is not None:
        seeds = seeds.sample(n=min(config.max_seeds, len(seeds)), random_state=config.seed).sort_index()
    seeds = seeds.reset_index(drop=True)
    if config.test_path is None:
        return split_seeds(seeds, config.validation_fraction, config.test_fraction, config.seed)
    test = read(config.test_path)
    shared = sorted(set(seeds["id"]) & set(test["id"]))
    if shared:
        raise SeedFileError(f"{config.test_path}: id(s) {shared[:5]} also in {config.path}; "
                            "a test row must not be a training seed")
    rest = split_seeds(seeds, config.validation_fraction, 0.0, config.seed)
    fixed = test.assign(source="seed", split=TEST)
    return pd.concat([rest, with_candidate_defaults(fixed[CANDIDATE_COLUMNS + ["messages"]])], ignore_index=True)
