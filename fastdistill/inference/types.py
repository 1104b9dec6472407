"""What every backend returns and the one interface they share.

A backend (transformers in-process, offline vLLM, an OpenAI-compatible
server) generates with optional top-k logprobs and scores given responses
teacher-forced. Everything downstream (synthesis, labelling, evaluation,
the judge) talks to this interface only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from transformers import PreTrainedTokenizerBase


@dataclass
class Generation:
    prompt_ids: list[int]
    response_ids: list[int]
    text: str
    topk_ids: np.ndarray | None = None  # [len(response_ids), k] int64
    topk_logprobs: np.ndarray | None = None  # [len(response_ids), k] float32
    truncated: bool | None = None  # stopped by the token budget, not by the model (None: the backend cannot tell)


@dataclass
class GenerationStats:
    new_tokens: int = 0
    seconds: float = 0.0
    batches: int = 0
    per_batch: list[tuple[int, float]] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds else 0.0


class Backend(Protocol):
    """A tokenizer, generation stats, generation and teacher-forced scoring."""

    tokenizer: PreTrainedTokenizerBase
    stats: GenerationStats

    def generate(self, prompts: list[str], *, max_new_tokens: int, batch_size: int = 16, temperature: float = 0.0,
                 top_p: float = 1.0, top_k_logprobs: int | None = None, seed: int = 0,
                 desc: str = "generating") -> list[Generation]: ...

    def score(self, pairs: list[tuple[list[int], list[int]]], *, top_k_logprobs: int,
              batch_size: int = 16) -> list[Generation]: ...
