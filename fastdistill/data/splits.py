"""The three disjoint splits and what each is for.

- train: the teacher labels it and students learn from it; synthesis grows
  it (Self-Instruct and Evol-Instruct start from train seeds only).
- validation: the sweep picks its winner here, and nothing else reads it.
- test: the evaluation, the registry's promotion gate and Born-Again's stop
  rule read only this split; no trial is ever selected on it, so its figures
  are not optimistic by construction. A user may pin it with a file of their
  own (`data.test_path`).

The split is stratified per category and seeded, so the same seeds file and
seed always give the same three id sets.
"""

from __future__ import annotations

import hashlib
import json
import random

import pandas as pd

TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLITS = (TRAIN, VALIDATION, TEST)
HELD_OUT = (TEST, VALIDATION)
"""Held-out splits in the order dedup keeps them: a copy of a test row is dropped wherever else it appears."""


def _counts(n: int, validation_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(validation, test) rows of a category of n: rounded shares, at least one of each where n >= 3,
    and always at least one training row."""
    n_test, n_val = round(n * test_fraction), round(n * validation_fraction)
    if n >= 3:
        n_test = max(n_test, 1) if test_fraction > 0 else 0
        n_val = max(n_val, 1) if validation_fraction > 0 else 0
    elif n == 2:  # one held out: test first, it is what the results are reported on
        n_test, n_val = (1, 0) if test_fraction > 0 else (0, min(n_val, 1))
    else:
        n_test = n_val = 0
    while n_test + n_val > n - 1:
        if n_val > (1 if n_test == 0 else 0):
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test


def assign_splits(frame: pd.DataFrame, validation_fraction: float, test_fraction: float, seed: int) -> list[str]:
    """The split of every row of `frame` (columns id, category), stratified per category and seeded."""
    rng = random.Random(seed)
    split_of: dict[str, str] = {}
    for _, group in frame.groupby("category", sort=True):
        ids = sorted(group["id"])
        rng.shuffle(ids)
        n_val, n_test = _counts(len(ids), validation_fraction, test_fraction)
        for i, row_id in enumerate(ids):
            split_of[row_id] = TEST if i < n_test else VALIDATION if i < n_test + n_val else TRAIN
    return [split_of[i] for i in frame["id"]]


def ids_of(frame: pd.DataFrame, split: str) -> set[str]:
    return set(frame.loc[frame["split"] == split, "id"].astype(str))


def content_sha256(frame: pd.DataFrame) -> str:
    """Names a set of examples by content (id, prompt, reference), in id order: the registry compares a
    challenger with a champion only when both were scored on the same test set."""
    rows = sorted((str(r.id), str(r.prompt), None if not isinstance(r.reference, str) else r.reference)
                  for r in frame[["id", "prompt", "reference"]].itertuples(index=False))
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()
