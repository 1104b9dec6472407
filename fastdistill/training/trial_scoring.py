"""A sweep trial's held-out score: one teacher-forced pass plus short greedy generations (see `SWEEP_METRICS`)."""

from __future__ import annotations

import torch

from fastdistill.config import SweepConfig
from fastdistill.evaluation.fidelity import response_logits
from fastdistill.evaluation.suite import mean_rouge_l
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.training.losses import (
    forward_kl_topk,
    token_cross_entropy,
    top1_agreement,
)


@torch.inference_mode()
def _teacher_forced(student: HFBackend, outputs: TeacherOutputs) -> dict[str, float]:
    """Token-weighted KL(teacher top-k || student), top-1 agreement and CE of the teacher's tokens."""
    totals = {"teacher_forced_kl": 0.0, "top1_agreement": 0.0, "eval_ce": 0.0}
    tokens = 0
    for r, logits, t_ids, t_lps in response_logits(student, outputs):
        n = len(r.response_ids)
        totals["teacher_forced_kl"] += forward_kl_topk(logits, t_ids, t_lps).item() * n
        totals["top1_agreement"] += top1_agreement(logits, t_ids).item() * n
        response = torch.as_tensor(list(r.response_ids), device=student.device)
        totals["eval_ce"] += token_cross_entropy(logits, response).item() * n
        tokens += n
    return {k: v / tokens for k, v in totals.items()} if tokens else {}


def score_trial(student: HFBackend, outputs: TeacherOutputs, sweep: SweepConfig) -> dict[str, float]:
    """The trial's held-out metrics (see `SWEEP_METRICS`), on at most `sweep.eval_examples` prompts."""
    held_out = outputs.split("eval")
    if held_out.frame.empty:
        raise ValueError("no held-out (split == 'eval') rows to score trials on; check data.eval_fraction")
    held_out = TeacherOutputs(held_out.frame.head(sweep.eval_examples), held_out.meta)
    frame = held_out.frame
    metrics = _teacher_forced(student, held_out)
    gens = student.generate(frame["prompt"].tolist(), max_new_tokens=sweep.eval_max_new_tokens, desc="trial scoring")
    answers = [g.text for g in gens]
    metrics["rougeL_vs_teacher"] = mean_rouge_l(answers, frame["response_text"].tolist())
    metrics["rougeL_vs_reference"] = mean_rouge_l(answers, frame["reference"].tolist())
    return {k: float(v) for k, v in metrics.items() if v is not None}
