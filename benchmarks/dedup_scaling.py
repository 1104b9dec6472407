"""Dedup cost at 10k and 100k rows: it must grow linearly, not quadratically.

Rows are synthetic instructions (random words from a 5,000-word vocabulary,
8-16 words each) with 10% planted near-duplicates (one word changed) and 5%
exact copies after normalisation. Times the exact + MinHash LSH stages of
`fastdistill.gate.dedup.find_duplicates` on both sizes in the same run and prints
one JSON line: both times, their ratio (10 would be linear), and the
duplicates found against those planted.

The semantic stage is timed separately (`--semantic-rows`, default 2000 and
8000 rows' worth of precomputed-like random unit vectors plus a measured
MiniLM encode rate on 256 real prompts): its neighbour search is SimHash LSH,
so it is linear too, and its cost is dominated by the encoder.

    python benchmarks/dedup_scaling.py            # targets: 100k in <= 60 s on 2 cores, ratio <= 12
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastdistill.gate.dedup import DedupSettings, find_duplicates, semantic_duplicates  # noqa: E402


def synthetic_rows(n: int, seed: int = 0) -> tuple[list[str], int]:
    rng = random.Random(seed)
    vocab = [f"{rng.choice('bcdfghklmnprst')}{rng.choice('aeiou')}{rng.choice('bcdfghklmnprst')}{i}" for i in range(5000)]
    rows, planted = [], 0
    while len(rows) < n:
        r = rng.random()
        if rows and r < 0.10:
            words = rng.choice(rows).split()
            words[rng.randrange(len(words))] = rng.choice(vocab)
            rows.append(" ".join(words))
            planted += 1
        elif rows and r < 0.15:
            rows.append(rng.choice(rows).upper() + "!")
            planted += 1
        else:
            rows.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(8, 16))))
    return rows, planted


def time_text_stages(n: int) -> dict:
    texts, planted = synthetic_rows(n)
    start = time.perf_counter()
    found = find_duplicates(texts, DedupSettings(near_threshold=0.7, semantic_threshold=None), progress=True)
    seconds = time.perf_counter() - start
    return {"rows": n, "seconds": round(seconds, 2), "duplicates_found": len(found), "duplicates_planted": planted}


def time_semantic_search(n: int) -> float:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, 384)).astype(np.float32)
    vectors[n // 2 :] = vectors[: n - n // 2] + 0.1 * rng.standard_normal((n - n // 2, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = time.perf_counter()
    semantic_duplicates(vectors, list(range(n)), threshold=0.9)
    return round(time.perf_counter() - start, 2)


def encode_rate(rows: int = 256) -> float:
    from fastdistill.gate.embeddings import embed, load_encoder

    load_encoder()
    texts, _ = synthetic_rows(rows, seed=1)
    start = time.perf_counter()
    embed(texts)
    return round(rows / (time.perf_counter() - start), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--semantic-rows", type=int, nargs=2, default=[2_000, 20_000])
    parser.add_argument("--skip-encoder", action="store_true", help="Do not load MiniLM to measure its encode rate.")
    args = parser.parse_args()
    import datasketch  # noqa: F401  its import takes seconds; keep it out of the small run's time

    small, large = time_text_stages(args.small), time_text_stages(args.large)
    sem_small, sem_large = (time_semantic_search(n) for n in args.semantic_rows)
    result = {
        "benchmark": "dedup_scaling", "stages": "exact + minhash_lsh",
        "rows_small": small["rows"], "seconds_small": small["seconds"],
        "rows_large": large["rows"], "seconds_large": large["seconds"],
        "ratio": round(large["seconds"] / small["seconds"], 2), "rows_ratio": large["rows"] / small["rows"],
        "found_vs_planted_large": [large["duplicates_found"], large["duplicates_planted"]],
        "semantic_search_rows": args.semantic_rows, "semantic_search_seconds": [sem_small, sem_large],
        "semantic_search_ratio": round(sem_large / max(sem_small, 1e-9), 2),
    }
    if not args.skip_encoder:
        result["minilm_rows_per_s"] = encode_rate()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
