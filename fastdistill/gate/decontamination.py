"""Decontamination: no train or validation row may share a long n-gram with a benchmark or the run's test split.

The GPT-3 and Llama reports count a training document as contaminated when
it shares a 13-gram of words with a test example; so does the gate
(`gate.decontamination_ngram`). The sources are every prompt and reference
of the `gate.decontaminate` files (any format `fastdistill.data.formats`
reads, streamed in batches) and, always, of the run's own test split. A
row's text is its prompt (a chat row: its turns without the template or
system prompts) and its reference. As in GPT-3, an n-gram that more than 10
candidate rows share is boilerplate (an instruction preamble), not a leak,
and is ignored. Texts shorter than n words contribute no
n-gram: an exact or near copy of a short test prompt is the dedup stage's
leakage check.

The index holds one 64-bit hash per distinct n-gram (a dict to the row that
has it), not the texts: a benchmark of 10k rows of 200 words is about 2M
entries.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fastdistill.data.formats import content_text, iter_batches, load_prompts
from fastdistill.data.splits import TEST

TEST_SPLIT = "the run's test split"
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _key(gram: list[str]) -> int:
    return int.from_bytes(hashlib.blake2b(" ".join(gram).encode(), digest_size=8).digest(), "little")


@dataclass
class NgramIndex:
    n: int
    owner_of: dict[int, int] = field(default_factory=dict)  # n-gram hash -> index into owners (the first row with it)
    owners: list[tuple[str, str]] = field(default_factory=list)  # (source, row id)

    def add(self, source: str, row_id: str, texts: list[str]) -> None:
        owner = len(self.owners)
        added = False
        for text in texts:
            tokens = words(text)
            for i in range(len(tokens) - self.n + 1):
                added = self.owner_of.setdefault(_key(tokens[i : i + self.n]), owner) == owner or added
        if added:
            self.owners.append((source, row_id))

    def matches(self, text: str) -> dict[int, str]:
        """n-gram hash -> the n-gram, for every n-gram of `text` in the index."""
        tokens = words(text)
        found = {}
        for i in range(len(tokens) - self.n + 1):
            key = _key(tokens[i : i + self.n])
            if key in self.owner_of:
                found.setdefault(key, " ".join(tokens[i : i + self.n]))
        return found

    def owner(self, key: int) -> tuple[str, str]:
        return self.owners[self.owner_of[key]]


def _texts(prompt, reference, messages) -> list[str]:
    return [content_text(prompt, messages)] + ([reference] if isinstance(reference, str) else [])


def build_index(candidates: pd.DataFrame, files: list[str], n: int) -> NgramIndex:
    """Every n-gram of the candidates' test rows and of the files' prompts and references."""
    index = NgramIndex(n)
    test = candidates[candidates["split"] == TEST]
    for row in test.itertuples():
        index.add(TEST_SPLIT, str(row.id), _texts(row.prompt, row.reference, getattr(row, "messages", None)))
    for path in files:
        table = load_prompts(Path(path))
        for batch in iter_batches(table, ["id", "prompt", "reference", "messages"]):
            for row_id, prompt, reference, messages in zip(batch["id"], batch["prompt"], batch["reference"], batch["messages"]):
                index.add(str(path), row_id, _texts(prompt, reference, messages))
    return index


def contamination_reasons(candidates: pd.DataFrame, files: list[str], n: int, max_rows: int = 10) -> dict[int, str]:
    """Positional index -> reason, for every non-test row sharing an n-gram with a source; the reason names the
    source file (or the test split), its row and the n-gram. An n-gram found in more than `max_rows` candidate rows
    is boilerplate (a shared instruction preamble), not a leak, and is ignored, as in the GPT-3 report."""
    index = build_index(candidates, files, n)
    if not index.owner_of:
        return {}
    matched: dict[int, dict[int, str]] = {}
    rows_with: Counter[int] = Counter()
    for position, row in enumerate(candidates.itertuples()):
        if row.split == TEST:
            continue
        found: dict[int, str] = {}
        for text in _texts(row.prompt, row.reference, getattr(row, "messages", None)):
            found.update(index.matches(text))
        if found:
            matched[position] = found
            rows_with.update(found.keys())
    reasons = {}
    for position, found in matched.items():
        leaks = [(key, gram) for key, gram in found.items() if rows_with[key] <= max_rows]
        if leaks:
            source, row_id = index.owner(leaks[0][0])
            reasons[position] = f"contamination: shares the {n}-gram '{leaks[0][1]}' with {source} row {row_id}"
    return reasons
