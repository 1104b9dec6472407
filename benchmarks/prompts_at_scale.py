"""A million prompts through the loader and the gate's exact and MinHash stages: linear time, bounded memory.

Writes two Parquet files of synthetic prompts (prompt, reference; no id or category, so the loader computes
content-hash ids), 100k rows (the baseline) and 1M rows, each with 10% planted near duplicates and 5% exact copies
after normalisation (`dedup_scaling.synthetic_rows`' recipe, streamed to disk in chunks). Each size is then measured
in a fresh subprocess with empty `datasets` and FastDistill caches:

1. `fastdistill.data.formats.load_prompts`: Parquet -> datasets' Arrow table (memory-mapped) -> the canonical
   columns, every row validated;
2. `fastdistill.gate.dedup.text_duplicates` over the table's prompt column in batches (exact + MinHash LSH),

and reports its seconds per phase and its peak resident memory (`ru_maxrss`: every page the process touched,
memory-mapped Arrow pages included). Prints one JSON line: the time ratio 1M / 100k (10 would be linear; the
target is at most 12) and the 1M peak (target: under 4 GB).

    nice .venv/bin/python benchmarks/prompts_at_scale.py                    # 100k vs 1M: several minutes on 2 cores
    .venv/bin/python benchmarks/prompts_at_scale.py --small 10000 --large 100000   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHUNK = 50_000


def write_prompts(path: Path, n: int, seed: int = 0) -> int:
    """A Parquet file of n synthetic prompts written chunk by chunk; returns the duplicates planted."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    vocab = [f"{rng.choice('bcdfghklmnprst')}{rng.choice('aeiou')}{rng.choice('bcdfghklmnprst')}{i}" for i in range(5000)]
    recent: list[str] = []  # duplicates copy a recent row: the file is never held whole
    planted, written = 0, 0
    with pq.ParquetWriter(path, pa.schema([("prompt", pa.string()), ("reference", pa.string())])) as writer:
        while written < n:
            prompts = []
            for _ in range(min(CHUNK, n - written)):
                r = rng.random()
                if recent and r < 0.10:
                    words = rng.choice(recent).split()
                    words[rng.randrange(len(words))] = rng.choice(vocab)
                    prompts.append(" ".join(words))
                    planted += 1
                elif recent and r < 0.15:
                    prompts.append(rng.choice(recent).upper() + "!")
                    planted += 1
                else:
                    prompts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(8, 16))))
                recent = (recent + prompts[-1:])[-2000:]
            references = [f"answer {written + i}" for i in range(len(prompts))]
            writer.write_table(pa.table({"prompt": prompts, "reference": references}))
            written += len(prompts)
    return planted


def measure(path: str) -> dict:
    """Run in a fresh process: load the file, stream its prompts through the exact and MinHash stages."""
    import resource

    from fastdistill.data.formats import iter_batches, load_prompts
    from fastdistill.gate.dedup import DedupSettings, text_duplicates

    import datasketch  # noqa: F401  imported before the clock starts, as the pipeline has it loaded

    start = time.perf_counter()
    table = load_prompts(path)
    loaded = time.perf_counter()
    batches = (batch["prompt"] for batch in iter_batches(table, ["prompt"]))
    found = text_duplicates(batches, DedupSettings(near_threshold=0.7, semantic_threshold=None), total=len(table))
    done = time.perf_counter()
    kinds = {k: sum(1 for d in found.values() if d.kind == k) for k in ("exact", "near")}
    return {"rows": len(table), "load_s": round(loaded - start, 1), "dedup_s": round(done - loaded, 1),
            "total_s": round(done - start, 1), "duplicates_found": kinds,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def run_size(n: int, workdir: Path) -> dict:
    path = workdir / f"prompts-{n}.parquet"
    planted = write_prompts(path, n)
    caches = workdir / f"cache-{n}"
    env = {**os.environ, "HF_DATASETS_CACHE": str(caches / "hf"), "FASTDISTILL_CACHE": str(caches / "fastdistill")}
    out = subprocess.run([sys.executable, __file__, "--measure", str(path)], env=env, check=True,
                         capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "duplicates_planted": planted, "file_mb": round(path.stat().st_size / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory(prefix="fastdistill-prompts-at-scale-") as tmp:
        small, large = run_size(args.small, Path(tmp)), run_size(args.large, Path(tmp))
    ratio = large["total_s"] / max(small["total_s"], 1e-9)
    print(json.dumps({
        "benchmark": "prompts_at_scale", "stages": "load (Parquet -> datasets) + exact + minhash_lsh",
        "small": small, "large": large, "rows_ratio": large["rows"] / small["rows"], "time_ratio": round(ratio, 2),
        "time_ratio_target": 12, "large_peak_rss_mb": large["peak_rss_mb"], "peak_target_mb": 4096,
        "within_targets": ratio <= 12 and large["peak_rss_mb"] < 4096,
    }))


if __name__ == "__main__":
    main()
