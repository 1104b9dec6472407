"""Distillation losses on the teacher's top-k soft targets.

All functions take already-selected response tokens: `student_logits` is
[N, V] (one row per response token), the teacher's side is [N, k]. Only the
k gathered entries and one logsumexp per token are computed on the student
side, so nothing beyond the model's own logits is materialised at [N, V] in
fp32 copies.

Tail mass: the teacher's top-k logprobs are renormalised over the top-k
(the mass outside them is dropped). The student's log-probabilities stay
normalised over the full vocabulary, so student mass outside the teacher's
top-k is penalised implicitly: the loss is >= 0 and is 0 only when the
student equals the renormalised teacher on the top-k and puts nothing
elsewhere. With k equal to the vocabulary this is the exact forward KL.
"""

from __future__ import annotations

import torch


def teacher_soft_targets(teacher_topk_logprobs: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p_T: the teacher's top-k logprobs softened by T and renormalised over the top-k."""
    return torch.log_softmax(teacher_topk_logprobs.float() / temperature, dim=-1)


def student_topk_logprobs(student_logits: torch.Tensor, topk_ids: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log q_T at the teacher's top-k ids, normalised over the student's full vocabulary."""
    scaled = student_logits.float() / temperature
    return scaled.gather(-1, topk_ids) - torch.logsumexp(scaled, dim=-1, keepdim=True)


def forward_kl_topk(
    student_logits: torch.Tensor,
    teacher_topk_ids: torch.Tensor,
    teacher_topk_logprobs: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Hinton forward KL, KL(p_T || q_T) * T^2, averaged over tokens.

    p_T = softmax(teacher_topk_logprobs / T) over the top-k ids,
    q_T = softmax(student_logits / T) over the vocabulary, read at those ids:
        loss = T^2 * mean_n sum_i p_T[n, i] * (log p_T[n, i] - log q_T[n, i]).
    The T^2 factor keeps gradient magnitudes comparable across temperatures.
    Returns 0 for an empty token set.
    """
    if student_logits.shape[0] == 0:
        return student_logits.sum() * 0.0
    log_p = teacher_soft_targets(teacher_topk_logprobs, temperature)
    log_q = student_topk_logprobs(student_logits, teacher_topk_ids, temperature)
    per_token = (log_p.exp() * (log_p - log_q)).sum(-1)
    return per_token.mean() * temperature**2


def token_cross_entropy(student_logits: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the teacher's tokens (sequence-level KD / SFT)."""
    if student_logits.shape[0] == 0:
        return student_logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(student_logits.float(), target_ids)


def top1_agreement(student_logits: torch.Tensor, teacher_topk_ids: torch.Tensor) -> torch.Tensor:
    """Share of tokens where the student's argmax is the teacher's top-1 token."""
    if student_logits.shape[0] == 0:
        return torch.tensor(0.0)
    return (student_logits.argmax(-1) == teacher_topk_ids[:, 0]).float().mean()
