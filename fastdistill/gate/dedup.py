"""Deduplication in three stages whose cost grows linearly with the rows.

1. exact: a hash of the normalised text (lowercase, single spaces, without the sentence punctuation that ends a
   word; operators, digits and code symbols are kept, so "12*3" and "12+3" differ);
2. near: MinHash over character shingles with `datasketch`'s LSH index;
3. semantic: sentence embeddings (see `fastdistill.gate.embeddings`) bucketed by
   random-hyperplane LSH (SimHash bands).

Each stage is greedy in row order: a row is a duplicate of the earliest kept
row it matches, and only kept rows enter the indexes. So callers decide who
wins by ordering rows (the gate puts eval rows first, making a train copy of
an eval prompt a leak rather than deleting the eval row). No stage compares
all pairs: a row is checked only against the kept rows sharing an LSH bucket,
and at most `MAX_BUCKET_CHECKS` of those per bucket.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

MAX_BUCKET_CHECKS = 64
# Sentence punctuation closing a word ("colour." "12*3?" "well,"), not inside one ("3.5", "a:b") nor standing alone
# (" ? " in "a ? b : c"): prompts that differ only there are one prompt; every other symbol is part of the task.
_WORD_END_PUNCTUATION = re.compile(r"(?<=\S)[.,;:!?]+(?=\s|$)")
_SENTENCE_END = ".,;:!? \t\r\n"  # and at the very end of the text, also after a space ("Why ?")


@dataclass(frozen=True)
class DedupSettings:
    near_threshold: float | None = 0.7  # estimated Jaccard of character shingles
    semantic_threshold: float | None = 0.9  # cosine similarity of sentence embeddings
    num_perm: int = 64
    shingle_chars: int = 5
    semantic_bands: int = 48
    semantic_bits: int = 16
    seed: int = 0


@dataclass(frozen=True)
class Duplicate:
    """Row `index` repeats the kept row `of`: `kind` is exact, near or semantic; `score` its similarity."""

    index: int
    of: int
    kind: str
    score: float


def normalise(text: str) -> str:
    """Case, Unicode width, whitespace and word-ending sentence punctuation removed; everything else kept."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_WORD_END_PUNCTUATION.sub("", text).rstrip(_SENTENCE_END).split())


def exact_duplicates(texts: list[str], rows: list[int] | None = None) -> list[Duplicate]:
    first: dict[bytes, int] = {}
    found = []
    for i in range(len(texts)) if rows is None else rows:
        key = hashlib.blake2b(normalise(texts[i]).encode(), digest_size=16).digest()
        if key in first:
            found.append(Duplicate(i, first[key], "exact", 1.0))
        else:
            first[key] = i
    return found


def shingles(text: str, n: int) -> set[bytes]:
    text = normalise(text)
    if len(text) <= n:
        return {text.encode()}
    return {text[i : i + n].encode() for i in range(len(text) - n + 1)}


def _hash32(shingle: bytes) -> int:
    # CRC-32: several times faster than datasketch's default sha1 and, unlike Python's own hash(), the same in every
    # process (PYTHONHASHSEED randomises hash(), which made which near-duplicates were caught vary run to run).
    return zlib.crc32(shingle)


def near_duplicates(texts: list[str], rows: list[int], threshold: float, num_perm: int = 64,
                    shingle_chars: int = 5, progress: bool = False) -> list[Duplicate]:
    """MinHash LSH: a row whose estimated Jaccard to a kept row is >= threshold is a near duplicate."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    hashes = MinHash.bulk([shingles(texts[i], shingle_chars) for i in rows], num_perm=num_perm, seed=1, hashfunc=_hash32)
    kept: dict[int, object] = {}
    found = []
    for i, m in tqdm(zip(rows, hashes), total=len(rows), desc="near-dup (MinHash LSH)", disable=not progress):
        best = max(((m.jaccard(kept[c]), c) for c in lsh.query(m)), default=(0.0, -1))
        if best[0] >= threshold:
            found.append(Duplicate(i, best[1], "near", round(float(best[0]), 4)))
        else:
            lsh.insert(i, m)
            kept[i] = m
    return found


def semantic_duplicates(vectors: np.ndarray, rows: list[int], threshold: float, bands: int = 48, bits: int = 16,
                        seed: int = 0, progress: bool = False) -> list[Duplicate]:
    """Cosine >= threshold between L2-normalised `vectors` (one per entry of `rows`), via SimHash banding.

    A pair at cosine c lands in a shared band with probability
    1 - (1 - (1 - acos(c)/pi)^bits)^bands: 0.985 at c = 0.9 with the defaults,
    0.005 at c = 0.2 (unrelated sentences). Only kept rows are bucketed.
    """
    if not rows:
        return []
    if bits > 62:
        raise ValueError(f"bits per band must be at most 62, got {bits}")
    planes = np.random.default_rng(seed).standard_normal((vectors.shape[1], bands * bits)).astype(np.float32)
    signs = (vectors @ planes > 0).reshape(len(rows), bands, bits).astype(np.int64)
    # One int per (row, band): the band's sign bits as a number, so bucket keys are plain dict keys.
    keys = (signs << np.arange(bits, dtype=np.int64)).sum(axis=2).tolist()
    buckets: list[dict[int, list[int]]] = [defaultdict(list) for _ in range(bands)]
    found = []
    for pos in tqdm(range(len(rows)), desc="semantic dedup (SimHash LSH)", disable=not progress):
        row_keys = keys[pos]
        candidates = {c for b in range(bands) for c in buckets[b].get(row_keys[b], ())[-MAX_BUCKET_CHECKS:]}
        best = (0.0, -1)
        if candidates:
            ordered = sorted(candidates)
            sims = vectors[ordered] @ vectors[pos]
            j = int(np.argmax(sims))
            best = (float(sims[j]), ordered[j])
        if best[0] >= threshold:
            found.append(Duplicate(rows[pos], rows[best[1]], "semantic", round(best[0], 4)))
            continue
        for b in range(bands):
            buckets[b][row_keys[b]].append(pos)
    return found


def find_duplicates(texts: list[str], settings: DedupSettings,
                    embed: Callable[[list[str]], np.ndarray] | None = None, progress: bool = False) -> dict[int, Duplicate]:
    """Every duplicate row (by index into `texts`), each pointing at the earlier row it repeats.

    Stages run in order and each sees only the rows the earlier ones kept;
    `embed` (texts -> L2-normalised vectors) is needed only for the semantic stage.
    """
    found = {d.index: d for d in exact_duplicates(texts)}
    alive = [i for i in range(len(texts)) if i not in found]
    if settings.near_threshold is not None:
        found.update((d.index, d) for d in near_duplicates(texts, alive, settings.near_threshold, settings.num_perm,
                                                            settings.shingle_chars, progress))
        alive = [i for i in alive if i not in found]
    if settings.semantic_threshold is not None and alive:
        if embed is None:
            raise ValueError("semantic dedup is on (gate.semantic_duplicate_threshold) but no embedding function was given")
        vectors = np.asarray(embed([texts[i] for i in alive]), dtype=np.float32)
        found.update((d.index, d) for d in semantic_duplicates(vectors, alive, settings.semantic_threshold,
                                                                settings.semantic_bands, settings.semantic_bits,
                                                                settings.seed, progress))
    return found
