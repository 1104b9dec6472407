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

import json
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import torch

from fastdistill.data.formats import transcript

TEMPLATE = (
    "Two assistants answered the same request. Judge which answer is more helpful and correct.\n\n"
    "Request:\n{prompt}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\n"
    "Which answer is better? Reply with the single letter A or B."
)


def requests(frame) -> list[str]:
    """The request of each row as the judge reads it: a chat row's conversation as plain turns ("System: ...",
    "User: ...", "Assistant: ..."), not the teacher's chat-template markup its `prompt` holds; else the prompt."""
    messages = frame["messages"] if "messages" in frame else [None] * len(frame)
    return [transcript(json.loads(m)) if isinstance(m, str) and m else p for p, m in zip(frame["prompt"], messages)]


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


class ServedJudge:
    """A model behind an OpenAI-compatible chat server (the usual judge: strong, and not the teacher).

    The question goes out as one user turn (the server applies the judge's own chat template) for one
    token at temperature 0 with its top logprobs: P(A) = p("A") / (p("A") + p("B")) over the first token's
    alternatives (" A", "**A" count as "A"). A server without logprobs, or whose top alternatives hold
    neither letter, is read from the reply's text: "A" 1, "B" 0, anything else 0.5 (no preference).
    """

    TOP_LOGPROBS = 5  # OpenAI's chat API allowed 5 for years; enough to hold both letters

    def __init__(self, client, model: str, concurrency: int = 4):
        self.client, self.model, self.concurrency = client, model, concurrency

    def prefer_first(self, triples: Sequence[tuple[str, str, str]]) -> list[float]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(self._one, triples))

    def _one(self, triple: tuple[str, str, str]) -> float:
        from fastdistill.inference.openai_server import call

        prompt, a, b = triple
        reply = call(self.client, "chat/completions", lambda: self.client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": TEMPLATE.format(prompt=prompt, a=a, b=b)}],
            max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=self.TOP_LOGPROBS))
        return letter_probability(reply.choices[0])


def _letter(token: str) -> str:
    return token.strip().strip("*_").upper()


def letter_probability(choice) -> float:
    """P("A" is better) from one chat choice: its first token's top logprobs, else its text."""
    content = choice.logprobs.content if choice.logprobs else None
    if content:
        mass = {"A": 0.0, "B": 0.0}
        for alt in content[0].top_logprobs or []:
            if _letter(alt.token) in mass:
                mass[_letter(alt.token)] += math.exp(alt.logprob)
        if mass["A"] + mass["B"] > 0:
            return mass["A"] / (mass["A"] + mass["B"])
    said = _letter(choice.message.content or "")[:1]
    return 1.0 if said == "A" else 0.0 if said == "B" else 0.5


def served_client(spec):
    """The SDK client of a served judge (`JudgeConfig` with backend openai), built the teacher's way."""
    from fastdistill.inference.openai_server import make_client

    return make_client(spec.base_url, api_key_env=spec.api_key_env, timeout_s=spec.timeout_s,
                       max_retries=spec.max_retries)


def check_served_judge(spec) -> None:
    """The preflight of a served judge: one verdict on a trivial pair, so a wrong URL, model or key stops the run
    before any step instead of after training."""
    ServedJudge(served_client(spec), spec.model).prefer_first([("Say yes.", "Yes.", "No.")])


def judge_for(config, teacher_backend, teacher_spec: str):
    """(the judge, its name for the health checks) that `evaluation` configures; None when judging is off.

    `judge` (a section) wins; else `judge_model` (a local spec); else the teacher judges its own answers.
    """
    if not config.judge_pairs:
        return None, None
    spec = config.judge
    if spec is not None and spec.backend == "openai":
        return ServedJudge(served_client(spec), spec.model, spec.concurrency), spec.model
    local = config.local_judge_model
    if local is None:
        return LMJudge(teacher_backend, config.batch_size), teacher_spec
    from fastdistill.inference.hf import HFBackend
    from fastdistill.models import resolve_model

    return LMJudge(HFBackend(resolve_model(local)), config.batch_size), local


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
