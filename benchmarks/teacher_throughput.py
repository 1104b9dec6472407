"""Teacher throughput against a baseline measured in the same run, same prompts, greedy.

Default: the batched `hf` backend against a naive loop calling `generate`
once per prompt. With `--backend vllm` (GPU machines): vLLM against the
batched `hf` backend. Prints one JSON line with tokens/s of both and the
ratio; the texts must be identical (asserted for hf vs hf; for vllm vs hf the
share of identical texts is reported, since GPU kernels may break ties
differently).

    .venv/bin/python benchmarks/teacher_throughput.py [--model packaged:smollm2-135m-instruct] [--prompts 16]
    .venv/bin/python benchmarks/teacher_throughput.py --backend vllm --prompts 256
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import click

from fastdistill.data.seeds import read_seeds
from fastdistill.inference.hf import HFBackend
from fastdistill.models import resolve_model


def _run(backend, prompts: list[str], batch_size: int, max_new_tokens: int) -> tuple[list[str], float]:
    backend.stats.__init__()
    gens = backend.generate(prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, desc=f"batch {batch_size}")
    return [g.text for g in gens], backend.stats.tokens_per_s


@click.command()
@click.option("--model", default="packaged:smollm2-135m-instruct", show_default=True, help="Teacher spec.")
@click.option("--prompts", "num_prompts", default=16, show_default=True, help="How many seed prompts to generate for.")
@click.option("--batch-size", default=16, show_default=True)
@click.option("--max-new-tokens", default=48, show_default=True)
@click.option("--backend", type=click.Choice(["hf", "vllm"]), default="hf", show_default=True,
              help="hf: batched vs one at a time; vllm: vLLM vs batched hf (needs a GPU).")
def main(model: str, num_prompts: int, batch_size: int, max_new_tokens: int, backend: str) -> None:
    root = Path(__file__).resolve().parents[1]
    seeds = read_seeds(root / "data" / "seeds.jsonl")["prompt"].tolist()
    prompts = (seeds * (num_prompts // len(seeds) + 1))[:num_prompts]
    model_dir = resolve_model(model)
    hf = HFBackend(model_dir)
    if backend == "vllm":
        from fastdistill.inference.vllm_offline import VLLMBackend

        baseline_texts, baseline = _run(hf, prompts, batch_size, max_new_tokens)
        batched_texts, batched = _run(VLLMBackend(model_dir, top_k=1), prompts, batch_size, max_new_tokens)
        same = sum(a == b for a, b in zip(baseline_texts, batched_texts)) / len(prompts)
        print(json.dumps({"benchmark": "teacher_throughput", "model": model, "prompts": len(prompts),
                          "baseline": "hf batched", "baseline_tokens_per_s": round(baseline, 2),
                          "vllm_tokens_per_s": round(batched, 2), "ratio": round(batched / baseline, 2),
                          "identical_text_share": round(same, 3)}))
        return
    baseline_texts, baseline = _run(hf, prompts, 1, max_new_tokens)
    batched_texts, batched = _run(hf, prompts, batch_size, max_new_tokens)
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
