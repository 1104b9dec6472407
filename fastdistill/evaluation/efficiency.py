"""What a model costs to run: parameters, bytes on disk, latency, throughput, peak memory; and speculative decoding.

Speed is compared at a fixed output length: every measured generation ignores
the end-of-sequence token and runs to exactly `new_tokens` tokens, so a model
that stops early does not look fast (latency would otherwise measure how soon
each model stops, not how fast it generates). Every configuration (batch 1,
batched, assisted) gets a warm-up generation first, which is not timed.
Latency is one prompt at a time (batch 1, greedy), the way an interactive
request is served; batched throughput uses the evaluation's batch size. Peak memory on a GPU is torch's peak allocation (weights
included); on CPU torch keeps no allocator statistics, so it is the weights'
bytes plus the peak growth of the process's resident memory while generating,
sampled every 5 ms (approximate, but measured the same way for both models).

Speculative decoding uses transformers' assisted generation with the student
as draft model: the student proposes a few tokens, the teacher verifies them
in one forward pass and keeps the longest prefix it agrees with. Under greedy
decoding the output is the teacher's own. The acceptance rate (accepted /
proposed draft tokens) is read from the candidate generator's updates.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import torch

from fastdistill.models.directory import WEIGHT_SUFFIXES


def count_parameters(model: torch.nn.Module) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def weight_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def disk_bytes(model_dir: Path) -> int:
    """Bytes of the weight files in a model directory (config and tokenizer files excluded)."""
    return sum(f.stat().st_size for f in Path(model_dir).rglob("*") if f.is_file() and f.suffix in WEIGHT_SUFFIXES)


def _release_freed_memory() -> None:
    """Give freed heap back to the OS, so the RSS growth of the next measurement starts from what is in use."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """Context manager: `.peak_bytes` = weights + working set of the code inside (see module docstring)."""

    def __init__(self, model: torch.nn.Module, interval_s: float = 0.005):
        self.model, self.interval_s = model, interval_s
        self.device = next(model.parameters()).device
        self.peak_bytes = 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        _release_freed_memory()
        self._process = psutil.Process()
        self._baseline = self._process.memory_info().rss
        self._max_rss = self._baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._max_rss = max(self._max_rss, self._process.memory_info().rss)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
            return
        self._stop.set()
        self._thread.join()
        self._max_rss = max(self._max_rss, self._process.memory_info().rss)
        self.peak_bytes = weight_bytes(self.model) + (self._max_rss - self._baseline)


@dataclass
class Latency:
    seconds: list[float]
    new_tokens: list[int]
    outputs: list[list[int]] = field(default_factory=list)  # generated ids per prompt
    peak_memory_bytes: int = 0

    @property
    def p50(self) -> float:
        return float(np.percentile(self.seconds, 50))

    @property
    def p95(self) -> float:
        return float(np.percentile(self.seconds, 95))

    @property
    def tokens_per_s(self) -> float:
        total = sum(self.seconds)
        return sum(self.new_tokens) / total if total else 0.0


WARMUP_TOKENS = 4


def _generate_one(model, tokenizer, prompt_ids: list[int], max_new_tokens: int, **extra) -> tuple[list[int], float]:
    """Greedy batch-1 generation of exactly `max_new_tokens` tokens (EOS ignored), and its wall time."""
    ids = torch.tensor([prompt_ids], device=model.device)
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             min_new_tokens=max_new_tokens, do_sample=False, top_k=None,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **extra)
    if ids.device.type == "cuda":
        torch.cuda.synchronize(ids.device)
    return out[0, len(prompt_ids):].tolist(), time.perf_counter() - started


def measure_latency(backend, prompt_ids: list[list[int]], max_new_tokens: int) -> Latency:
    """Batch-1 greedy generation of each prompt to `max_new_tokens`, timed one by one, with the run's peak memory."""
    _generate_one(backend.model, backend.tokenizer, prompt_ids[0], WARMUP_TOKENS)  # first-call allocations, kernels
    seconds, tokens, outputs = [], [], []
    with PeakMemory(backend.model) as memory:
        for ids in prompt_ids:
            new, elapsed = _generate_one(backend.model, backend.tokenizer, ids, max_new_tokens)
            seconds.append(elapsed)
            tokens.append(len(new))
            outputs.append(new)
    return Latency(seconds, tokens, outputs, memory.peak_bytes)


@dataclass
class Speculative:
    acceptance_rate: float  # accepted / proposed draft tokens
    proposed: int
    accepted: int
    speedup: float  # assisted tokens/s over the teacher's own batch-1 tokens/s
    tokens_per_s: float
    outputs_match: float  # share of prompts where the assisted output equals the teacher's greedy output


@contextlib.contextmanager
def _counting_acceptance(model):
    """Count draft tokens proposed and accepted during assisted generation.

    transformers reports them only to the candidate generator's
    `update_candidate_strategy(input_ids, scores, num_matches)` (scores cover
    the candidates plus one bonus position), so the generator built by
    `generate` is wrapped on this model instance for the duration.
    """
    counts = {"proposed": 0, "accepted": 0}
    build = model._get_candidate_generator

    def build_counting(*args, **kwargs):
        generator = build(*args, **kwargs)
        update = generator.update_candidate_strategy

        def update_counting(input_ids, scores, num_matches):
            counts["proposed"] += int(scores.shape[1]) - 1
            counts["accepted"] += int(num_matches)
            return update(input_ids, scores, num_matches)

        generator.update_candidate_strategy = update_counting
        return generator

    model._get_candidate_generator = build_counting
    try:
        yield counts
    finally:
        del model._get_candidate_generator  # back to the class's method


def speculative_decoding(teacher, student, prompt_ids: list[list[int]], max_new_tokens: int,
                         baseline: Latency) -> Speculative:
    """Assisted generation of the same prompts as `baseline` (the teacher alone, batch 1)."""
    seconds, tokens, same = 0.0, 0, 0
    _generate_one(teacher.model, teacher.tokenizer, prompt_ids[0], WARMUP_TOKENS, assistant_model=student.model)
    with _counting_acceptance(teacher.model) as counts:
        for ids, expected in zip(prompt_ids, baseline.outputs):
            new, elapsed = _generate_one(teacher.model, teacher.tokenizer, ids, max_new_tokens,
                                         assistant_model=student.model)
            seconds += elapsed
            tokens += len(new)
            same += new == expected
    rate = counts["accepted"] / counts["proposed"] if counts["proposed"] else 0.0
    tps = tokens / seconds if seconds else 0.0
    return Speculative(rate, counts["proposed"], counts["accepted"],
                       tps / baseline.tokens_per_s if baseline.tokens_per_s else 0.0, tps, same / len(prompt_ids))


def batched_tokens_per_s(backend, prompts: list[str], batch_size: int, new_tokens: int) -> float:
    """Tokens/s of batched greedy generation at exactly `new_tokens` per prompt, after an untimed warm-up batch."""
    backend.generate(prompts[:batch_size], max_new_tokens=WARMUP_TOKENS, batch_size=batch_size, ignore_eos=True,
                     desc="warm-up")
    backend.stats = type(backend.stats)()
    backend.generate(prompts, max_new_tokens=new_tokens, batch_size=batch_size, ignore_eos=True, desc="batched speed")
    return backend.stats.tokens_per_s
