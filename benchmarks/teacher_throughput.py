"""Batched teacher generation against one prompt at a time, same prompts, greedy.

Prints one JSON line: tokens/s of both and the ratio. Both runs must produce
identical texts (asserted), so the speed-up is not bought with different output.

    .venv/bin/python benchmarks/teacher_throughput.py [--model packaged:smollm2-135m-instruct] [--prompts 16]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import click

from fastdistill.data import read_seeds
from fastdistill.models import resolve_model
from fastdistill.teacher import HFBackend


def _run(backend: HFBackend, prompts: list[str], batch_size: int, max_new_tokens: int) -> tuple[list[str], float]:
    backend.stats.__init__()
    gens = backend.generate(prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, desc=f"batch {batch_size}")
    return [g.text for g in gens], backend.stats.tokens_per_s


@click.command()
@click.option("--model", default="packaged:smollm2-135m-instruct", show_default=True, help="Teacher spec.")
@click.option("--prompts", "num_prompts", default=16, show_default=True, help="How many seed prompts to generate for.")
@click.option("--batch-size", default=16, show_default=True)
@click.option("--max-new-tokens", default=48, show_default=True)
def main(model: str, num_prompts: int, batch_size: int, max_new_tokens: int) -> None:
    root = Path(__file__).resolve().parents[1]
    prompts = read_seeds(root / "data" / "seeds.jsonl")["prompt"].tolist()[:num_prompts]
    backend = HFBackend(resolve_model(model))
    baseline_texts, baseline = _run(backend, prompts, 1, max_new_tokens)
    batched_texts, batched = _run(backend, prompts, batch_size, max_new_tokens)
    mismatches = [i for i, (a, b) in enumerate(zip(baseline_texts, batched_texts)) if a != b]
    print(json.dumps({
        "benchmark": "teacher_throughput", "model": model, "prompts": len(prompts), "max_new_tokens": max_new_tokens,
        "baseline_tokens_per_s": round(baseline, 2), "batched_tokens_per_s": round(batched, 2),
        "batch_size": batch_size, "ratio": round(batched / baseline, 2), "identical_texts": not mismatches,
    }))
    if mismatches:
        raise SystemExit(f"batched and one-at-a-time texts differ for prompts {mismatches}")


if __name__ == "__main__":
    main()
