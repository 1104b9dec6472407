"""The vLLM offline backend, for GPU nodes. Imported only when `teacher.backend: vllm` is chosen.

Not exercised on a GPU yet: on CPU machines only its import guard runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from fastdistill.inference.chat import encode_chat_prompt, load_tokenizer
from fastdistill.inference.types import Generation, GenerationStats


class BackendUnavailable(RuntimeError):
    """The chosen backend cannot run on this machine; the message says what is missing."""


def _require_vllm():
    try:
        import vllm
    except ImportError:
        raise BackendUnavailable(
            "teacher.backend 'vllm' needs the vllm package: install the gpu extra (pip install '.[gpu]') on a GPU "
            "machine, or use teacher.backend 'hf'"
        ) from None
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("teacher.backend 'vllm' needs a CUDA GPU and none is visible; use teacher.backend 'hf'")
    return vllm


def sampling_kwargs(n: int, *, max_new_tokens: int, temperature: float, top_p: float, top_k_logprobs: int | None,
                    seed: int) -> list[dict]:
    """`SamplingParams` arguments for `n` requests, each with its own seed.

    One shared seeded `SamplingParams` gives every request the same random stream, so the n samples
    self-consistency sends of one prompt would come back identical (agreement always 1).
    """
    return [{"max_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p, "logprobs": top_k_logprobs,
             "seed": seed + i} for i in range(n)]


class VLLMBackend:
    def __init__(self, model_dir: Path, *, top_k: int, tensor_parallel_size: int = 1):
        vllm = _require_vllm()
        self.tokenizer = load_tokenizer(Path(model_dir))
        # max_logprobs defaults to 20 in vLLM; the store may ask for more.
        self.llm = vllm.LLM(model=str(model_dir), tensor_parallel_size=tensor_parallel_size,
                            max_logprobs=max(20, top_k), seed=0)
        self._vllm = vllm
        self.stats = GenerationStats()

    def generate(self, prompts: list[str], *, max_new_tokens: int, batch_size: int = 16, temperature: float = 0.0,
                 top_p: float = 1.0, top_k_logprobs: int | None = None, seed: int = 0,
                 desc: str = "generating") -> list[Generation]:
        """vLLM batches internally (continuous batching): `batch_size` is ignored."""
        encoded = [encode_chat_prompt(self.tokenizer, p) for p in prompts]
        params = [self._vllm.SamplingParams(**kwargs) for kwargs in sampling_kwargs(
            len(encoded), max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
            top_k_logprobs=top_k_logprobs, seed=seed)]
        started = time.perf_counter()
        outputs = self.llm.generate([{"prompt_token_ids": ids} for ids in encoded], params, use_tqdm=True)
        self.stats.seconds += time.perf_counter() - started
        gens = [self._one(ids, out.outputs[0], top_k_logprobs) for ids, out in zip(encoded, outputs)]
        self.stats.new_tokens += sum(len(g.response_ids) for g in gens)
        return gens

    def score(self, pairs: list[tuple[list[int], list[int]]], *, top_k_logprobs: int, batch_size: int = 16) -> list[Generation]:
        """Teacher-forced top-k logprobs via `prompt_logprobs` over prompt + response."""
        params = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=top_k_logprobs)
        outputs = self.llm.generate([{"prompt_token_ids": list(p) + list(r)} for p, r in pairs], params, use_tqdm=True)
        gens = []
        for (prompt, response), out in zip(pairs, outputs):
            positions = out.prompt_logprobs[len(prompt) : len(prompt) + len(response)]
            ranked = [sorted(pos.items(), key=lambda kv: -kv[1].logprob)[:top_k_logprobs] for pos in positions]
            gen = Generation(list(prompt), list(response), self.tokenizer.decode(response, skip_special_tokens=True))
            gen.topk_ids = np.array([[t for t, _ in r] for r in ranked], dtype=np.int64).reshape(-1, top_k_logprobs)
            gen.topk_logprobs = np.array([[lp.logprob for _, lp in r] for r in ranked], dtype=np.float32).reshape(-1, top_k_logprobs)
            gens.append(gen)
        return gens

    def _one(self, prompt_ids: list[int], completion, k: int | None) -> Generation:
        gen = Generation(list(prompt_ids), list(completion.token_ids), completion.text.strip(),
                         truncated=completion.finish_reason == "length")
        if k is not None:
            # Each position maps token id -> Logprob(logprob, rank); the sampled token may be an extra (k+1)th entry.
            ranked = [sorted(pos.items(), key=lambda kv: -kv[1].logprob)[:k] for pos in completion.logprobs]
            gen.topk_ids = np.array([[t for t, _ in r] for r in ranked], dtype=np.int64).reshape(-1, k)
            gen.topk_logprobs = np.array([[lp.logprob for _, lp in r] for r in ranked], dtype=np.float32).reshape(-1, k)
        return gen
