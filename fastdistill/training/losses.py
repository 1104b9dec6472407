"""Distillation losses on the teacher's top-k soft targets.

All functions take already-selected response tokens: `student_logits` is
[N, V] (one row per response token), the teacher's side is [N, k]: top-k ids
(int64) and their logprobs (temperature 1, unnormalised over the top-k).

Memory invariant: no loss creates an fp32 [N, V] tensor besides the logits
themselves. The student side only ever gathers the k teacher ids ([N, k]) and,
where the loss needs the full-vocabulary normaliser, one logsumexp per token
from `scaled_logsumexp`, which upcasts and softens the logits a bounded block of
rows at a time and recomputes that block in backward instead of keeping it. So
bf16 logits stay bf16 in memory; the only other [N, V] tensor is their gradient
(in the logits' dtype). At a 150k vocabulary an fp32 copy of 8k tokens' logits
is ~5 GB, which is what top-k distillation exists to avoid.

Notation per token n: S = the teacher's top-k ids, T = temperature,
    p   = softmax(teacher_topk_logprobs / T) over S          (teacher, renormalised on S)
    q   = softmax(student_logits / T) over the whole vocabulary, read on S
    q~  = softmax(student_logits[S] / T) over S              (student, renormalised on S)
Every loss is T^2 * (mean over tokens of a per-token divergence); the T^2
factor keeps gradient magnitudes comparable across temperatures (Hinton).

Tail mass, one convention per loss:
- full-student convention (forward KL, skew KL, total variation): p on S against q normalised
  over the full vocabulary. Student mass outside S lowers q on S, so it is
  penalised implicitly: the loss is >= 0 (Gibbs: the q-side sums to <= 1 on S)
  and 0 only when q equals p on S and puts nothing elsewhere.
- restricted convention (reverse KL, generalized JSD, skew reverse KL): these
  need both distributions on one support (they sum over the student's mass or
  mix the two), so BOTH p and q~ live on S, each renormalised there. The
  student's mass outside S is then invisible to the loss; combine with forward
  KL / cross-entropy or raise k if that matters.
With k = V, S is the whole vocabulary, p and q~ are the full softened
distributions (q~ = q), and every loss below is the exact full-vocabulary
divergence.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator

import torch
from torch.autograd.function import once_differentiable

# Rows per block in `scaled_logsumexp` are chosen so one fp32 block holds about this many elements (64 MiB).
LOGSUMEXP_BLOCK_ELEMENTS = 1 << 24
# Target id that `token_cross_entropy` skips, as in `torch.nn.functional.cross_entropy`.
IGNORE_INDEX = -100


class _ScaledLogSumExp(torch.autograd.Function):
    """logsumexp(logits / T) over the last dim of a 2-D tensor, in fp32, one block of rows at a time.

    A plain `torch.logsumexp(logits.float() / T)` would keep an fp32 [N, V] copy alive for backward;
    here backward recomputes softmax(block / T) from the saved logits instead.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, temperature: float, block_rows: int) -> torch.Tensor:  # type: ignore[override]
        out = torch.empty(logits.shape[0], dtype=torch.float32, device=logits.device)
        for start in range(0, logits.shape[0], block_rows):
            rows = slice(start, start + block_rows)
            out[rows] = torch.logsumexp(logits[rows].float() / temperature, dim=-1)
        ctx.save_for_backward(logits, out)
        ctx.temperature, ctx.block_rows = temperature, block_rows
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        logits, lse = ctx.saved_tensors
        t = ctx.temperature
        grad = torch.empty_like(logits)
        for start in range(0, logits.shape[0], ctx.block_rows):
            rows = slice(start, start + ctx.block_rows)
            softmax = (logits[rows].float() / t - lse[rows, None]).exp_()
            grad[rows] = softmax.mul_(grad_out[rows, None] / t)
        return grad, None, None


# Inside `shared_logsumexp()`: results of `scaled_logsumexp` by (logits tensor, T, block), reused on repeat calls.
_SHARED_LOGSUMEXP: contextvars.ContextVar[dict | None] = contextvars.ContextVar("shared_logsumexp", default=None)


@contextlib.contextmanager
def shared_logsumexp() -> Iterator[None]:
    """Within the block, each `scaled_logsumexp(logits, T)` is computed once per logits tensor and T.

    CE and a full-student KD objective on the same logits both need logsumexp(logits / T); at T = 1 this
    halves the full-vocabulary passes of forward and backward (autograd sums the two uses' gradients
    into one `_ScaledLogSumExp.backward`). Keep the block short-lived: entries are keyed by tensor identity.
    """
    token = _SHARED_LOGSUMEXP.set({})
    try:
        yield
    finally:
        _SHARED_LOGSUMEXP.reset(token)


def scaled_logsumexp(
    logits: torch.Tensor, temperature: float = 1.0, block_elements: int = LOGSUMEXP_BLOCK_ELEMENTS
) -> torch.Tensor:
    """fp32 logsumexp(logits / T) over the last dim, without an fp32 copy of `logits` (see module docstring)."""
    shared = _SHARED_LOGSUMEXP.get()
    if shared is not None:
        key = (id(logits), logits._version, float(temperature), block_elements, torch.is_grad_enabled())
        if key not in shared:
            shared[key] = (logits, _scaled_logsumexp(logits, temperature, block_elements))  # holds logits: id stays unique
        return shared[key][1]
    return _scaled_logsumexp(logits, temperature, block_elements)


def _scaled_logsumexp(logits: torch.Tensor, temperature: float, block_elements: int) -> torch.Tensor:
    vocab = logits.shape[-1]
    block_rows = max(1, block_elements // max(vocab, 1))
    flat = _ScaledLogSumExp.apply(logits.reshape(-1, vocab), float(temperature), block_rows)
    return flat.reshape(logits.shape[:-1])


def teacher_soft_targets(teacher_topk_logprobs: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p_T: the teacher's top-k logprobs softened by T and renormalised over the top-k."""
    return torch.log_softmax(teacher_topk_logprobs.float() / temperature, dim=-1)


def student_topk_logprobs(student_logits: torch.Tensor, topk_ids: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log q_T at the teacher's top-k ids, normalised over the student's full vocabulary."""
    gathered = student_logits.gather(-1, topk_ids).float() / temperature
    return gathered - scaled_logsumexp(student_logits, temperature).unsqueeze(-1)


def student_restricted_logprobs(
    student_logits: torch.Tensor, topk_ids: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """log q~_T: the student's softened logits at the teacher's top-k ids, renormalised over those k only."""
    return torch.log_softmax(student_logits.gather(-1, topk_ids).float() / temperature, dim=-1)


def _restricted_pair(
    student_logits: torch.Tensor, topk_ids: torch.Tensor, topk_logprobs: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p, log q~): teacher and student, both renormalised on the teacher's top-k (restricted convention)."""
    return (
        teacher_soft_targets(topk_logprobs, temperature),
        student_restricted_logprobs(student_logits, topk_ids, temperature),
    )


def _kl(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """Per-token KL(a || b) = sum_i a_i (log a_i - log b_i) over the last dim."""
    return (log_a.exp() * (log_a - log_b)).sum(-1)


def _log_mixture(log_a: torch.Tensor, log_b: torch.Tensor, weight_a: float) -> torch.Tensor:
    """log(w a + (1 - w) b), computed in log space; w in {0, 1} returns one side (no log 0)."""
    if weight_a == 1.0:
        return log_a
    if weight_a == 0.0:
        return log_b
    return torch.logaddexp(log_a + math.log(weight_a), log_b + math.log1p(-weight_a))


def _token_mean(per_token: torch.Tensor, temperature: float) -> torch.Tensor:
    return per_token.mean() * temperature**2


def _zero_loss(student_logits: torch.Tensor) -> torch.Tensor:
    """fp32 zero that still has a gradient path to the logits, so `backward()` works on N = 0 batches.

    Summing an empty slice avoids both an fp32 copy and inf * 0 = nan on overflowing half-precision sums.
    """
    return student_logits[:0].sum().float()


def _check_unit_interval(name: str, value: float, meaning: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1] ({meaning}); got {value}")


def forward_kl_topk(
    student_logits: torch.Tensor,
    teacher_topk_ids: torch.Tensor,
    teacher_topk_logprobs: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Hinton forward KL, KL(p_T || q_T) * T^2, averaged over tokens (full-student convention).

    p_T = softmax(teacher_topk_logprobs / T) over the top-k ids,
    q_T = softmax(student_logits / T) over the vocabulary, read at those ids:
        loss = T^2 * mean_n sum_i p_T[n, i] * (log p_T[n, i] - log q_T[n, i]).
    The T^2 factor keeps gradient magnitudes comparable across temperatures.
    Returns 0 for an empty token set.
    """
    if student_logits.shape[0] == 0:
        return _zero_loss(student_logits)
    log_p = teacher_soft_targets(teacher_topk_logprobs, temperature)
    log_q = student_topk_logprobs(student_logits, teacher_topk_ids, temperature)
    return _token_mean(_kl(log_p, log_q), temperature)


def reverse_kl_topk(
    student_logits: torch.Tensor,
    teacher_topk_ids: torch.Tensor,
    teacher_topk_logprobs: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Reverse KL, KL(q~_T || p_T) * T^2, averaged over tokens (restricted convention).

    MiniLLM's objective in its token-level, single-step form: mode-seeking, so the
    student is pushed to put its mass where the teacher is confident.
        loss = T^2 * mean_n sum_{i in S} q~_T[n, i] * (log q~_T[n, i] - log p_T[n, i]),
    with p_T and q~_T both renormalised on the teacher's top-k S. With k = V this is
    the exact KL(q_T || p_T). Returns 0 for an empty token set.
    """
    if student_logits.shape[0] == 0:
        return _zero_loss(student_logits)
    log_p, log_q = _restricted_pair(student_logits, teacher_topk_ids, teacher_topk_logprobs, temperature)
    return _token_mean(_kl(log_q, log_p), temperature)


def generalized_jsd_topk(
    student_logits: torch.Tensor,
    teacher_topk_ids: torch.Tensor,
    teacher_topk_logprobs: torch.Tensor,
    temperature: float = 1.0,
    beta: float = 0.5,
) -> torch.Tensor:
    """GKD's generalized Jensen-Shannon divergence * T^2, averaged over tokens (restricted convention).

    With M = beta * p_T + (1 - beta) * q~_T on the teacher's top-k S:
        JSD_beta = beta * KL(p_T || M) + (1 - beta) * KL(q~_T || M)       for 0 < beta < 1,
        JSD_0    = KL(p_T || q~_T)   (forward KL),
        JSD_1    = KL(q~_T || p_T)   (reverse KL).
    This is TRL's convention exactly (`GKDTrainer.generalized_jsd_loss`, and the same in
    `trl/kernels/chunked_divergence.py`): beta weights the teacher in the mixture, and the
    endpoints are special-cased. Note the endpoints are not the limit of the mixture formula,
    which tends to 0 at both ends (JSD_beta ~ beta * KL(p || q) near 0 and
    ~ (1 - beta) * KL(q || p) near 1); they are what TRL defines them to be.
    With k = V this equals T^2 times TRL's value with reduction "batchmean" over valid tokens
    (TRL applies no T^2). Returns 0 for an empty token set.
    """
    _check_unit_interval("beta", beta, "0 -> forward KL, 1 -> reverse KL, between -> generalized JSD")
    if student_logits.shape[0] == 0:
        return _zero_loss(student_logits)
    log_p, log_q = _restricted_pair(student_logits, teacher_topk_ids, teacher_topk_logprobs, temperature)
    if beta == 0.0:
        per_token = _kl(log_p, log_q)
    elif beta == 1.0:
        per_token = _kl(log_q, log_p)
    else:
        log_m = _log_mixture(log_p, log_q, beta)
        per_token = beta * _kl(log_p, log_m) + (1.0 - beta) * _kl(log_q, log_m)
    return _token_mean(per_token, temperature)


def skew_kl_topk(
    student_logits: torch.Tensor,
    teacher_topk_ids: torch.Tensor,
    teacher_topk_logprobs: torch.Tensor,
    temperature: float = 1.0,
    alpha: float = 0.1,
) -> torch.Tensor:
    """DistiLLM skew KL, KL(p_T || alpha p_T + (1 - alpha) q_T) * T^2, averaged over tokens.

    Full-student convention, like `forward_kl_topk`: the sum runs over the teacher's
    top-k S (where p_T > 0) and q_T is normalised over the full vocabulary, so
        loss = T^2 * mean_n sum_{i in S} p_T[n, i] * (log p_T[n, i] - log(alpha p_T[n, i] + (1 - alpha) q_T[n, i])).
    Skewing the target towards the teacher keeps the log bounded where q_T is tiny
    (log M >= log alpha + log p). alpha = 0 is exactly `forward_kl_topk`; alpha = 1 gives 0.
    With k = V this is the exact full-vocabulary skew KL. Returns 0 for an empty token set.
    """
    _check_unit_interval("alpha", alpha, "0 -> forward KL, 1 -> zero loss; DistiLLM uses 0.1")
    if student_logits.shape[0] == 0 or alpha == 1.0:  # alpha = 1: M = p, the student drops out
        return _zero_loss(student_logits)
    log_p = teacher_soft_targets(teacher_topk_logprobs, temperature)
    log_q = student_topk_logprobs(student_logits, teacher_topk_ids, temperature)
    return _token_mean(_kl(log_p, _log_mixture(log_p, log_q, alpha)), temperature)


def skew_reverse_kl_topk(
    student_logits: torch.Tensor,
    teacher_topk_ids: torch.Tensor,
    teacher_topk_logprobs: torch.Tensor,
    temperature: float = 1.0,
    alpha: float = 0.1,
) -> torch.Tensor:
    """DistiLLM skew reverse KL, KL(q~_T || (1 - alpha) p_T + alpha q~_T) * T^2, averaged over tokens.

    Restricted convention, like `reverse_kl_topk` (the sum runs over the student's mass):
        loss = T^2 * mean_n sum_{i in S} q~_T[n, i] * (log q~_T[n, i] - log((1 - alpha) p_T[n, i] + alpha q~_T[n, i])).
    alpha = 0 is exactly `reverse_kl_topk`; alpha = 1 gives 0. With k = V this is the
    exact full-vocabulary skew reverse KL. Returns 0 for an empty token set.
    """
    _check_unit_interval("alpha", alpha, "0 -> reverse KL, 1 -> zero loss; DistiLLM uses 0.1")
    if student_logits.shape[0] == 0:
        return _zero_loss(student_logits)
    log_p, log_q = _restricted_pair(student_logits, teacher_topk_ids, teacher_topk_logprobs, temperature)
    return _token_mean(_kl(log_q, _log_mixture(log_q, log_p, alpha)), temperature)


def total_variation_topk(
    student_logits: torch.Tensor,
    teacher_topk_ids: torch.Tensor,
    teacher_topk_logprobs: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Total variation distance, TV(p_T, q_T) * T^2, averaged over tokens (full-student convention).

    DistillKit's `tvd` on a sparse (top-k) teacher: the teacher has no mass outside its top-k S, so the
    student's mass there counts in full:
        TV = 1/2 * ( sum_{i in S} |p_T[n, i] - q_T[n, i]|  +  (1 - sum_{i in S} q_T[n, i]) ),
    with p_T renormalised on S and q_T normalised over the whole vocabulary. TV is a metric, bounded in
    [0, 1] per token, and 0 only when q_T equals p_T on S and puts nothing elsewhere; with k = V it is the
    exact full-vocabulary 1/2 * ||p_T - q_T||_1. Unlike the KL family its gradient does not grow without
    bound where the student gives a teacher token almost no mass. The T^2 factor follows this module's
    convention for every loss. Returns 0 for an empty token set.
    """
    if student_logits.shape[0] == 0:
        return _zero_loss(student_logits)
    p = teacher_soft_targets(teacher_topk_logprobs, temperature).exp()
    q = student_topk_logprobs(student_logits, teacher_topk_ids, temperature).exp()
    outside = (1.0 - q.sum(-1)).clamp_min(0.0)  # rounding can push the sum a hair above 1
    return _token_mean(0.5 * ((p - q).abs().sum(-1) + outside), temperature)


def token_cross_entropy(student_logits: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the teacher's tokens (sequence-level KD / SFT).

    Same value as `F.cross_entropy(student_logits.float(), target_ids)` (targets of -100 are
    ignored), computed as logsumexp - gathered logit so no fp32 [N, V] copy is made.
    """
    if student_logits.shape[0] == 0:
        return _zero_loss(student_logits)
    valid = target_ids != IGNORE_INDEX
    picked = student_logits.gather(-1, target_ids.clamp_min(0).unsqueeze(-1)).squeeze(-1).float()
    return (scaled_logsumexp(student_logits) - picked)[valid].mean()


def top1_agreement(student_logits: torch.Tensor, teacher_topk_ids: torch.Tensor) -> torch.Tensor:
    """Share of tokens where the student's argmax is the teacher's top-1 token."""
    if student_logits.shape[0] == 0:
        return torch.tensor(0.0)
    return (student_logits.argmax(-1) == teacher_topk_ids[:, 0]).float().mean()
