"""Distillation fidelity: how closely the student follows the teacher, token by token.

Teacher-forced (on the teacher's own responses, from the stored top-k):
forward KL(teacher || student) in the full-student convention, reverse
KL(student || teacher) renormalised on the teacher's top-k (see `losses`),
top-1 agreement, and the student's next-token calibration (ECE of its
argmax confidence against the teacher's token).

Free-running (on the student's own greedy generations, scored by the
teacher): whether each student token is the teacher's argmax given the
student's prefix. Per position, the gap between the two agreements is the
exposure bias: teacher forcing never lets the student see its own mistakes,
free running does, and errors compound with length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from fastdistill.evaluation.metrics import expected_calibration_error
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.training.losses import forward_kl_topk, reverse_kl_topk


@dataclass
class TeacherForced:
    """Token-weighted means over every response token, and the same per row (rows without a response: None)."""

    forward_kl: float
    reverse_kl: float
    top1_agreement: float
    ece: float
    tokens: int
    agreement_by_position: list[np.ndarray] = field(default_factory=list)  # one bool array per scored row
    per_row: dict[str, list[float | None]] = field(default_factory=dict)  # forward_kl, reverse_kl, top1_agreement
    row_tokens: list[int] = field(default_factory=list)  # response tokens per row (0: not scored)


@torch.inference_mode()
def response_logits(student, outputs: TeacherOutputs):
    """For each row with a response: the row, the student's logits at its response positions (the teacher's
    tokens fed in), and the teacher's top-k ids and logprobs there."""
    for r in outputs.frame.itertuples():
        if len(r.response_ids) == 0:
            continue
        ids = torch.tensor([list(r.prompt_ids) + list(r.response_ids)], device=student.device)
        logits = student.model(input_ids=ids).logits[0, len(r.prompt_ids) - 1 : -1].float()
        yield (r, logits, torch.as_tensor(r.topk_ids, device=student.device),
               torch.as_tensor(r.topk_logprobs, device=student.device))


def teacher_forced(student, outputs: TeacherOutputs, ece_bins: int = 10) -> TeacherForced:
    """Token-weighted means over every response token of `outputs`, and per-row means for the bootstrap."""
    per_row: dict[str, dict[str, float]] = {"forward_kl": {}, "reverse_kl": {}, "top1_agreement": {}}
    tokens_of: dict[str, int] = {}
    agree_rows, confidences, correct = [], [], []
    for r, logits, t_ids, t_lps in response_logits(student, outputs):
        row_id = str(r.id)
        tokens_of[row_id] = len(r.response_ids)
        per_row["forward_kl"][row_id] = forward_kl_topk(logits, t_ids, t_lps).item()
        per_row["reverse_kl"][row_id] = reverse_kl_topk(logits, t_ids, t_lps).item()
        probs = torch.softmax(logits, dim=-1).max(dim=-1)
        agree = (probs.indices == t_ids[:, 0]).cpu().numpy()
        per_row["top1_agreement"][row_id] = float(agree.mean())
        agree_rows.append(agree)
        confidences.extend(probs.values.cpu().tolist())
        correct.extend((probs.indices == torch.as_tensor(list(r.response_ids), device=student.device)).cpu().tolist())
    tokens = sum(tokens_of.values())
    if not tokens:
        raise ValueError("no response tokens to score: every held-out teacher response is empty")
    ids = [str(i) for i in outputs.frame["id"]]
    means = {k: sum(v[i] * tokens_of[i] for i in v) / tokens for k, v in per_row.items()}
    return TeacherForced(means["forward_kl"], means["reverse_kl"], means["top1_agreement"],
                         expected_calibration_error(confidences, correct, ece_bins), tokens, agree_rows,
                         {k: [v.get(i) for i in ids] for k, v in per_row.items()}, [tokens_of.get(i, 0) for i in ids])


def free_running_agreement(teacher, prompt_ids: list[list[int]], student_response_ids: list[list[int]],
                           batch_size: int = 8) -> list[np.ndarray]:
    """Per row, whether each student token is the teacher's argmax given the student's own prefix."""
    pairs = [(p, r) for p, r in zip(prompt_ids, student_response_ids)]
    scored = teacher.score([pr for pr in pairs if pr[1]], top_k_logprobs=1, batch_size=batch_size)
    it = iter(scored)
    rows = []
    for _, response in pairs:
        if not response:
            rows.append(np.zeros(0, dtype=bool))
            continue
        gen = next(it)
        rows.append(np.asarray(gen.topk_ids)[:, 0] == np.asarray(response))
    return rows


def position_curve(rows: list[np.ndarray], bucket: int) -> list[dict]:
    """Mean agreement per bucket of `bucket` positions: [{"start", "end", "agreement", "tokens"}, ...]."""
    longest = max((len(r) for r in rows), default=0)
    curve = []
    for start in range(0, longest, bucket):
        values = np.concatenate([r[start : start + bucket] for r in rows if len(r) > start])
        curve.append({"start": start + 1, "end": start + bucket, "agreement": float(values.mean()),
                      "tokens": int(values.size)})
    return curve


def exposure_bias_curve(forced_rows: list[np.ndarray], free_rows: list[np.ndarray], bucket: int) -> list[dict]:
    """Both agreements side by side per position bucket (positions are 1-based response tokens)."""
    forced = {c["start"]: c for c in position_curve(forced_rows, bucket)}
    free = {c["start"]: c for c in position_curve(free_rows, bucket)}
    curve = []
    for start in sorted(forced.keys() | free.keys()):
        f, g = forced.get(start), free.get(start)
        curve.append({"start": start, "end": start + bucket - 1,
                      "teacher_forced": f["agreement"] if f else None, "teacher_forced_tokens": f["tokens"] if f else 0,
                      "free_running": g["agreement"] if g else None, "free_running_tokens": g["tokens"] if g else 0})
    return curve


def exposure_bias_decay(curve: list[dict], min_tokens: int = 1) -> float | None:
    """Free-running agreement in the first bucket minus the last bucket with at least `min_tokens` tokens."""
    points = [c["free_running"] for c in curve if c["free_running"] is not None and c["free_running_tokens"] >= min_tokens]
    return points[0] - points[-1] if len(points) >= 2 else None
