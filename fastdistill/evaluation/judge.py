"""Pairwise LLM-as-judge: does a judge model prefer the student's answer or the teacher's?

The judge reads both answers under labels A and B and its next-token
probabilities of "A" and "B" give P(A is better); no text is generated, so a
verdict costs one forward pass and is deterministic. Judges, small ones most
of all, favour a position; every pair is therefore judged in both orders
(student as A, then student as B) and the two verdicts are combined: win
(1) if the student wins both, loss (0) if it loses both, tie (0.5) if the
verdict followed the position. A judge that always says "A" thus scores the
student exactly 0.5, whatever the answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

TEMPLATE = (
    "Two assistants answered the same request. Judge which answer is more helpful and correct.\n\n"
    "Request:\n{prompt}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\n"
    "Which answer is better? Reply with the single letter A or B."
)


class Judge(Protocol):
    def prefer_first(self, triples: Sequence[tuple[str, str, str]]) -> list[float]:
        """P(the first answer is better) for each (prompt, first answer, second answer)."""


class LMJudge:
    """A causal LM (an `HFBackend`) as judge, reading P("A") against P("B") after the question."""

    def __init__(self, backend, batch_size: int = 4):
        self.backend, self.batch_size = backend, batch_size
        tok = backend.tokenizer
        self.label_ids = (self._single_token(tok, "A"), self._single_token(tok, "B"))

    @staticmethod
    def _single_token(tokenizer, label: str) -> int:
        ids = tokenizer(label, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"judge tokenizer splits the label {label!r} into {len(ids)} tokens; need one")
        return ids[0]

    @torch.inference_mode()
    def prefer_first(self, triples: Sequence[tuple[str, str, str]]) -> list[float]:
        out: list[float] = []
        pad = self.backend.tokenizer.pad_token_id
        for start in range(0, len(triples), self.batch_size):
            batch = [self.backend.encode_prompt(TEMPLATE.format(prompt=p, a=a, b=b))
                     for p, a, b in triples[start : start + self.batch_size]]
            width = max(len(ids) for ids in batch)
            ids = torch.tensor([[pad] * (width - len(x)) + x for x in batch], device=self.backend.device)
            mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in batch], device=self.backend.device)
            logits = self.backend.model(input_ids=ids, attention_mask=mask).logits[:, -1].float()
            pair = logits[:, list(self.label_ids)]
            out.extend(torch.softmax(pair, dim=-1)[:, 0].cpu().tolist())
        return out


@dataclass
class PairwiseResult:
    win_rate: float  # 1 win, 0.5 tie (verdicts split by position), 0 loss; mean over pairs
    preference: float  # mean P(student better), averaged over both orders
    consistency: float  # share of pairs whose two verdicts agree
    first_position_rate: float  # share of single verdicts that chose answer A: 0.5 means no position bias
    pairs: list[dict]


def _verdict(p: float) -> float:
    return 1.0 if p > 0.5 else 0.0 if p < 0.5 else 0.5


def pairwise(judge: Judge, prompts: Sequence[str], students: Sequence[str], teachers: Sequence[str]) -> PairwiseResult:
    """Judge every (student, teacher) answer pair in both orders and combine the verdicts."""
    if not prompts:
        raise ValueError("pairwise judging needs at least one prompt")
    forward = judge.prefer_first([(p, s, t) for p, s, t in zip(prompts, students, teachers)])
    swapped = judge.prefer_first([(p, t, s) for p, s, t in zip(prompts, students, teachers)])
    pairs = []
    for prompt, s_first, t_first in zip(prompts, forward, swapped):
        student_as_a, student_as_b = s_first, 1.0 - t_first  # both: P(student better)
        va, vb = _verdict(student_as_a), _verdict(student_as_b)
        outcome = va if va == vb else 0.5
        first = ((s_first > 0.5) + 0.5 * (s_first == 0.5) + (t_first > 0.5) + 0.5 * (t_first == 0.5)) / 2
        pairs.append({"prompt": prompt, "p_student_as_a": student_as_a, "p_student_as_b": student_as_b,
                      "outcome": outcome, "consistent": va == vb, "first_position": float(first)})
    n = len(pairs)
    return PairwiseResult(
        win_rate=sum(p["outcome"] for p in pairs) / n,
        preference=sum(p["p_student_as_a"] + p["p_student_as_b"] for p in pairs) / (2 * n),
        consistency=sum(p["consistent"] for p in pairs) / n,
        first_position_rate=sum(p["first_position"] for p in pairs) / n,
        pairs=pairs,
    )
