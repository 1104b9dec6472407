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
and at most `MAX_BUCKET_CHECKS` of those per bucket (semantic stage). The exact
and MinHash stages stream over batches of texts (`text_duplicates`), so a
million-row table never has to be a Python list.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
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


def _exact_key(text: str) -> bytes:
    return hashlib.blake2b(normalise(text).encode(), digest_size=16).digest()


def exact_duplicates(texts: list[str], rows: list[int] | None = None) -> list[Duplicate]:
    first: dict[bytes, int] = {}
    found = []
    for i in range(len(texts)) if rows is None else rows:
        key = _exact_key(texts[i])
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


BATCH_ROWS = 10_000  # texts (and their shingle sets) held at once by the exact and MinHash stages


class MinHashIndex:
    """MinHash LSH over the kept rows, lean enough for millions of rows.

    Signatures are datasketch's MinHash (`MinHash.bulk`, one batch at a time), banded as datasketch's `MinHashLSH`
    bands them (its `b` bands of `r` values for the threshold): a kept row is a candidate when one band of its
    signature equals the query's, and the best candidate by estimated Jaccard (ties: the later row) is the match.
    What is stored differs: datasketch's index keeps a MinHash object, a set per bucket and the band bytes for
    every key (measured with tracemalloc on 44k kept rows: 3.5 KB per kept row, 3.5 GB at a million); this one
    keeps the signatures in one numpy array and a 64-bit key per band in a dict to the kept row (1.2 KB per kept
    row on the same rows, with the same duplicates found)."""

    def __init__(self, threshold: float, num_perm: int = 64, shingle_chars: int = 5):
        from datasketch import MinHashLSH

        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.threshold, self.num_perm, self.shingle_chars = threshold, num_perm, shingle_chars
        self.bands = [(i * lsh.r, (i + 1) * lsh.r) for i in range(lsh.b)]
        self._mix = np.random.default_rng(0).integers(1, 2**63, size=lsh.r, dtype=np.uint64) | np.uint64(1)
        self.buckets: list[dict[int, int | list[int]]] = [{} for _ in self.bands]
        self.kept: np.ndarray | None = None  # kept rows' signatures, in datasketch's dtype (uint32 hash values)
        self.kept_rows: list[int] = []

    def signatures(self, texts: list[str]) -> np.ndarray:
        from datasketch import MinHash

        hashes = MinHash.bulk([shingles(t, self.shingle_chars) for t in texts], num_perm=self.num_perm, seed=1,
                              hashfunc=_hash32)
        return np.stack([m.hashvalues for m in hashes]) if hashes else np.zeros((0, self.num_perm), dtype=np.uint64)

    def _band_keys(self, signatures: np.ndarray) -> list[list[int]]:
        # One 64-bit number per (row, band); a collision only adds a candidate, which `_candidates` then drops.
        values = signatures.astype(np.uint64)
        keys = np.stack([(values[:, s:e] * self._mix).sum(axis=1) for s, e in self.bands], axis=1)
        return keys.tolist()

    def _candidates(self, keys: list[int], signature: np.ndarray) -> list[int]:
        slots: set[int] = set()
        for bucket, key in zip(self.buckets, keys):
            found = bucket.get(key)
            if found is not None:
                slots.update(found if isinstance(found, list) else (found,))
        return [c for c in slots if any(np.array_equal(self.kept[c, s:e], signature[s:e]) for s, e in self.bands)]

    def _keep(self, row: int, keys: list[int], signature: np.ndarray) -> None:
        slot = len(self.kept_rows)
        if self.kept is None:
            self.kept = np.zeros((1024, self.num_perm), dtype=signature.dtype)
        elif slot == len(self.kept):
            self.kept = np.concatenate([self.kept, np.zeros_like(self.kept)])
        self.kept[slot] = signature
        self.kept_rows.append(row)
        for bucket, key in zip(self.buckets, keys):
            found = bucket.get(key)
            if found is None:
                bucket[key] = slot  # the usual case: a bare int, not a list, keeps the dict small
            elif isinstance(found, list):
                found.append(slot)
            else:
                bucket[key] = [found, slot]

    def add_batch(self, rows: list[int], signatures: np.ndarray) -> list[Duplicate]:
        """Rows in order: each is a near duplicate of its best kept candidate at >= threshold, else it is kept."""
        found = []
        for row, keys, signature in zip(rows, self._band_keys(signatures), signatures):
            candidates = self._candidates(keys, signature)
            if candidates:
                scores = (self.kept[candidates] == signature).sum(axis=1) / self.num_perm
                score, of = max(zip(scores.tolist(), (self.kept_rows[c] for c in candidates)))
                if score >= self.threshold:
                    found.append(Duplicate(row, of, "near", round(float(score), 4)))
                    continue
            self._keep(row, keys, signature)
        return found


def near_duplicates(texts: list[str], rows: list[int], threshold: float, num_perm: int = 64,
                    shingle_chars: int = 5, progress: bool = False) -> list[Duplicate]:
    """MinHash LSH: a row whose estimated Jaccard to a kept row is >= threshold is a near duplicate."""
    index, found = MinHashIndex(threshold, num_perm, shingle_chars), []
    for start in tqdm(range(0, len(rows), BATCH_ROWS), desc="near-dup (MinHash LSH)", disable=not progress):
        chunk = rows[start : start + BATCH_ROWS]
        found += index.add_batch(chunk, index.signatures([texts[i] for i in chunk]))
    return found


def text_duplicates(batches: Iterable[Sequence[str]], settings: DedupSettings, progress: bool = False,
                    total: int | None = None) -> dict[int, Duplicate]:
    """The exact and MinHash stages in one pass over batches of texts (rows numbered on across batches), holding
    one batch of texts at a time: what a million-row `datasets.Dataset` streams through.

    The same result as running the stages one after the other: a row is an exact duplicate of the first row with
    its normalised text, and the MinHash stage sees, in order, the rows that are not."""
    first: dict[bytes, int] = {}
    index = None if settings.near_threshold is None else MinHashIndex(settings.near_threshold, settings.num_perm,
                                                                       settings.shingle_chars)
    found: dict[int, Duplicate] = {}
    start = 0
    with tqdm(total=total, desc="dedup (exact + MinHash LSH)", disable=not progress, unit="rows") as bar:
        for batch in batches:
            alive, alive_texts = [], []
            for i, text in enumerate(batch, start=start):
                of = first.setdefault(_exact_key(text), i)
                if of != i:
                    found[i] = Duplicate(i, of, "exact", 1.0)
                else:
                    alive.append(i)
                    alive_texts.append(text)
            if index is not None and alive:
                found.update((d.index, d) for d in index.add_batch(alive, index.signatures(alive_texts)))
            start += len(batch)
            bar.update(len(batch))
    return found


def batched(texts: Sequence[str], size: int = BATCH_ROWS) -> Iterator[Sequence[str]]:
    for start in range(0, len(texts), size):
        yield texts[start : start + size]


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
    found = text_duplicates(batched(texts), settings, progress, total=len(texts))
    alive = [i for i in range(len(texts)) if i not in found]
    if settings.semantic_threshold is not None and alive:
        if embed is None:
            raise ValueError("semantic dedup is on (gate.semantic_duplicate_threshold) but no embedding function was given")
        vectors = np.asarray(embed([texts[i] for i in alive]), dtype=np.float32)
        found.update((d.index, d) for d in semantic_duplicates(vectors, alive, settings.semantic_threshold,
                                                                settings.semantic_bands, settings.semantic_bits,
                                                                settings.seed, progress))
    return found
