"""Bytes per token of the top-k store against dense fp16 logits over the full vocabulary.

Labels real prompts with the teacher at k=20 and k=64, writes each store,
and prints one JSON line per k: stored bytes per token and per kept logit,
the dense baseline (vocab x 2 bytes per token), the ratio, and the mean and
max absolute logprob reconstruction error of the uint8 quantization.

    .venv/bin/python benchmarks/logprob_storage.py [--model packaged:smollm2-135m-instruct] [--prompts 24]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import click
import numpy as np

from fastdistill.config import TeacherConfig
from fastdistill.data.seeds import read_seeds, split_seeds
from fastdistill.inference.backends import backend_for
from fastdistill.inference.labelling import label
from fastdistill.inference.topk_store import TeacherOutputs


def _measure(outputs: TeacherOutputs, vocab: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        outputs.save(Path(tmp))
        stored = sum(p.stat().st_size for p in Path(tmp).iterdir())
        loaded = TeacherOutputs.load(Path(tmp))
    tokens = outputs.num_tokens
    errors = np.concatenate([np.abs(a - b).ravel() for a, b in zip(outputs.frame["topk_logprobs"], loaded.frame["topk_logprobs"])])
    per_token = stored / tokens
    return {
        "k": outputs.meta.top_k, "tokens": tokens, "bytes_per_token": round(per_token, 2),
        "bytes_per_kept_logit": round(per_token / outputs.meta.top_k, 3),
        "dense_fp16_bytes_per_token": vocab * 2, "ratio_vs_dense": round(vocab * 2 / per_token, 1),
        "mean_abs_logprob_error": round(float(errors.mean()), 5), "max_abs_logprob_error": round(float(errors.max()), 5),
    }


@click.command()
@click.option("--model", default="packaged:smollm2-135m-instruct", show_default=True, help="Teacher spec.")
@click.option("--prompts", "num_prompts", default=24, show_default=True)
@click.option("--max-new-tokens", default=64, show_default=True)
def main(model: str, num_prompts: int, max_new_tokens: int) -> None:
    root = Path(__file__).resolve().parents[1]
    rows = split_seeds(read_seeds(root / "data" / "seeds.jsonl"), 0.2, 0).head(num_prompts)
    config = TeacherConfig(model=model, top_k=64, max_new_tokens=max_new_tokens)
    backend = backend_for(config)
    full = label(backend, rows, config)
    vocab = len(backend.tokenizer)
    for k in (20, 64):
        frame = full.frame.copy()
        frame["topk_ids"] = frame["topk_ids"].map(lambda a: a[:, :k])
        frame["topk_logprobs"] = frame["topk_logprobs"].map(lambda a: a[:, :k])
        meta = type(full.meta)(**{**full.meta.__dict__, "top_k": k})
        print(json.dumps({"benchmark": "logprob_storage", "model": model, **_measure(TeacherOutputs(frame, meta), vocab)}))


if __name__ == "__main__":
    main()
