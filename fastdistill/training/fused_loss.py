"""Fused, chunked lm_head projection + CE/KD loss: the full [N, V] logits never exist at once.

Math. For response token n with final hidden state h_n (length H), the student's
logits are z_n = W h_n + b over the shared vocabulary (W is the lm_head weight
[V, H], truncated to the tokenizer's V rows when the head is padded). The loss is
    L = ce_weight * CE + (1 - ce_weight) * KD,
    CE = (1 / |valid|) * sum_{n valid} ce_n(z_n),     KD = (1 / N) * sum_n kd_n(z_n),
where ce_n and kd_n are exactly the per-token terms of `fastdistill.training.losses`
(`token_cross_entropy` and the objective's KD loss from its record in
`fastdistill.training.objectives`, with its knobs and T^2 factor). Both are sums over tokens, so over
disjoint chunks c of tokens
    L = sum_c [ ce_weight * CE_c * |valid_c| / |valid| + (1 - ce_weight) * KD_c * N_c / N ],
with CE_c and KD_c the same loss functions applied to chunk c alone (they return
chunk means). Chunking changes nothing in the value; the library's functions are
reused as they are, not re-derived.

Gradients. For one chunk, with G_c = dL_c / dz_c ([N_c, V], from autograd through
the loss functions on that chunk's logits only):
    dL / dh_c = G_c W,    dL / dW += G_c^T h_c,    dL / db += sum_n G_c[n].
So the forward pass computes, one chunk at a time, the chunk's logits, its loss
and G_c, turns G_c into the chunk's hidden-state gradient and adds its share of
the weight (and bias) gradient in place, then drops the chunk. Backward only
multiplies the stored gradients by the incoming scalar gradient (1 for
`loss.backward()`). This is the scheme of Liger-Kernel's fused linear
cross-entropy, applied to top-k distillation objectives.

Memory. A dense implementation keeps several [N, V] tensors alive together: the
logits, their fp32 log-softmax (saved for backward), the dense teacher
distribution and the logits' gradient; at N = 4096 and V = 49,152 each fp32 one
is 805 MB. Here the live extra memory is:
    O(C * V) for one chunk (its logits, the logsumexp block and G_c; a few copies),
    O(V * H) for the accumulated fp32 weight gradient (the size of the head itself,
             which any training step needs anyway),
    O(N * H) for the hidden-state gradient,
with C the chunk size in tokens, independent of N. Within a chunk, CE and the KD
objective share one logsumexp over the vocabulary where they use the same
temperature (`fastdistill.training.losses.shared_logsumexp`), so its forward and backward
passes over [C, V] run once instead of twice. The default C keeps one fp32
chunk of logits near `FUSED_CHUNK_ELEMENTS` (64 MiB): 341 tokens at V = 49,152,
110 at 152,064. `benchmarks/kd_loss_memory.py` measures it against the dense path.

Without autograd (evaluation, `torch.no_grad()`), the chunks are only scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fastdistill.training import objectives
from fastdistill.training.losses import (
    IGNORE_INDEX,
    LOGSUMEXP_BLOCK_ELEMENTS,
    shared_logsumexp,
    token_cross_entropy,
)

# One fp32 chunk of logits holds about this many elements; the same budget as the logsumexp blocks.
FUSED_CHUNK_ELEMENTS = LOGSUMEXP_BLOCK_ELEMENTS


@dataclass(frozen=True)
class KDLossParts:
    """`total` carries the gradient; `ce` and `kd` are detached, for logging the two parts apart."""

    total: torch.Tensor
    ce: torch.Tensor
    kd: torch.Tensor


@dataclass(frozen=True)
class _Spec:
    objective: objectives.Objective
    ce_weight: float
    knobs: dict
    chunk_tokens: int


def default_chunk_tokens(vocab_size: int) -> int:
    return max(1, FUSED_CHUNK_ELEMENTS // max(vocab_size, 1))


def fused_linear_kd_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_logprobs: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    objective: str = "fkl",
    ce_weight: float = 0.5,
    vocab_size: int | None = None,
    chunk_tokens: int | None = None,
    **knobs: float,
) -> KDLossParts:
    """`ce_weight * CE + (1 - ce_weight) * KD` from hidden states [N, H] and the lm_head [V, H] (see module docstring).

    `targets` [N] are the tokens for CE (`IGNORE_INDEX` skipped); `topk_ids`/`topk_logprobs` [N, k] the
    teacher's top-k. `knobs` (temperature, beta, alpha, ...) go to the objective's KD loss, which takes the
    ones its record lists. `vocab_size` keeps only the first rows of a padded head (the tokenizer's size):
    padded rows are not tokens, so they must not take probability mass. `chunk_tokens` defaults to
    `default_chunk_tokens(V)`. Values and gradients equal the unfused path's.
    """
    record = objectives.get(objective)
    if record.trainer != "topk_kd":
        raise ValueError(f"objective '{objective}' has no KD loss on the top-k store; the fused loss takes one of "
                         f"{[o.name for o in objectives.kd_objectives()]}")
    if not 0.0 <= ce_weight <= 1.0:
        raise ValueError(f"ce_weight must be in [0, 1] (loss = ce_weight * CE + (1 - ce_weight) * KD); got {ce_weight}")
    weight, bias = _truncate_head(weight, bias, vocab_size)
    if chunk_tokens is not None and chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be at least 1, got {chunk_tokens}")
    spec = _Spec(record, float(ce_weight), knobs, chunk_tokens or default_chunk_tokens(weight.shape[0]))
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (hidden, weight, bias)
    )
    if not needs_grad:
        with torch.no_grad():
            return KDLossParts(*_score_chunks(hidden, weight, bias, targets, topk_ids, topk_logprobs, spec, None))
    total, ce, kd = _FusedLinearKD.apply(hidden, weight, bias, targets, topk_ids, topk_logprobs, spec)
    return KDLossParts(total, ce, kd)


def _truncate_head(weight, bias, vocab_size):
    if vocab_size is None or vocab_size == weight.shape[0]:
        return weight, bias
    if not 0 < vocab_size <= weight.shape[0]:
        raise ValueError(
            f"vocab_size {vocab_size} must be between 1 and the lm_head's {weight.shape[0]} rows "
            "(the tokenizer's size; a head may be padded beyond it, never shorter)"
        )
    return weight[:vocab_size], None if bias is None else bias[:vocab_size]


class _FusedLinearKD(torch.autograd.Function):
    """Forward computes the loss and all its gradients chunk by chunk; backward rescales them."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, topk_ids, topk_logprobs, spec):  # type: ignore[override]
        grads = _GradAccumulator(hidden, weight, bias, ctx.needs_input_grad[:3])
        total, ce, kd = _score_chunks(hidden, weight, bias, targets, topk_ids, topk_logprobs, spec, grads)
        ctx.save_for_backward(*grads.tensors())
        ctx.mark_non_differentiable(ce, kd)
        return total, ce, kd

    @staticmethod
    def backward(ctx, grad_total, _grad_ce, _grad_kd):  # type: ignore[override]
        scaled = [None if g is None else (g * grad_total).to(g.dtype) for g in _unpack(ctx)]
        return (*scaled, None, None, None, None)


def _unpack(ctx):
    saved = iter(ctx.saved_tensors)
    return [next(saved) if needed else None for needed in ctx.needs_input_grad[:3]]


class _GradAccumulator:
    """dL/dh written per chunk; dL/dW and dL/db summed in fp32 in place (no [V, H] temporary per chunk)."""

    def __init__(self, hidden, weight, bias, needed):
        self.needed = needed
        self.hidden = torch.zeros_like(hidden) if needed[0] else None
        self.weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if needed[1] else None
        self.bias = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if needed[2] else None
        self._dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)

    def add(self, rows: slice, h_chunk, weight, grad_logits) -> None:
        if self.hidden is not None:
            self.hidden[rows] = (grad_logits @ weight).to(self.hidden.dtype)
        if self.weight is not None:
            self.weight.addmm_(grad_logits.T.float(), h_chunk.float())
        if self.bias is not None:
            self.bias += grad_logits.float().sum(0)

    def tensors(self) -> list[torch.Tensor]:
        grads = (self.hidden, self.weight, self.bias)
        return [g.to(dtype) for g, dtype, needed in zip(grads, self._dtypes, self.needed) if needed]


def _score_chunks(hidden, weight, bias, targets, topk_ids, topk_logprobs, spec, grads):
    """(total, ce, kd) as detached fp32 scalars; with `grads`, also fills the gradients chunk by chunk."""
    n = hidden.shape[0]
    valid_total = int((targets != IGNORE_INDEX).sum())
    total, ce, kd = (torch.zeros((), dtype=torch.float32, device=hidden.device) for _ in range(3))
    for start in range(0, n, spec.chunk_tokens):
        rows = slice(start, min(start + spec.chunk_tokens, n))
        with torch.enable_grad() if grads is not None else torch.no_grad(), shared_logsumexp():
            logits = torch.nn.functional.linear(hidden[rows].detach(), weight.detach(),
                                                None if bias is None else bias.detach())
            logits.requires_grad_(grads is not None)
            valid = int((targets[rows] != IGNORE_INDEX).sum())
            # A chunk without CE targets adds no CE; token_cross_entropy's mean over none would be nan.
            ce_c = token_cross_entropy(logits, targets[rows]) * (valid / valid_total) if valid else logits[:0].sum()
            kd_c = spec.objective.kd(logits, topk_ids[rows], topk_logprobs[rows], **spec.knobs) * ((rows.stop - start) / n)
            chunk = spec.ce_weight * ce_c + (1.0 - spec.ce_weight) * kd_c
        if grads is not None:
            (grad_logits,) = torch.autograd.grad(chunk, logits)
            grads.add(rows, hidden[rows].detach(), weight.detach(), grad_logits)
        total += chunk.detach().float()
        ce += ce_c.detach().float()
        kd += kd_c.detach().float()
    return total, ce, kd


def lm_head_of(model: torch.nn.Module) -> torch.nn.Linear:
    """The model's output projection, refused when it is not a plain linear layer the fused loss can reproduce."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if not isinstance(head, torch.nn.Linear):
        raise TypeError(
            f"{type(model).__name__}: the fused KD loss needs a causal LM whose output embeddings are a "
            f"torch.nn.Linear (lm_head); got {type(head).__name__}"
        )
    return head


def check_head_reproduces_logits(logits: torch.Tensor, last_hidden: torch.Tensor, head: torch.nn.Linear,
                                 model_name: str, atol: float = 1e-3) -> None:
    """Refuse models whose logits are not `lm_head(last hidden state)` (e.g. Gemma's softcapping, Cohere's scale).

    `logits` [B, P, V] are the model's own for some positions, `last_hidden` [B, P, H] the matching states.
    """
    with torch.no_grad():
        ours = head(last_hidden.to(head.weight.dtype)).float()
        gap = (ours - logits.float()).abs().max().item() if logits.numel() else 0.0
    if gap > atol * max(1.0, logits.float().abs().max().item() if logits.numel() else 1.0):
        raise ValueError(
            f"{model_name}: its logits differ from lm_head(last hidden state) by up to {gap:.3g}, so the "
            "fused KD loss would train on the wrong logits (the model post-processes them, e.g. softcapping "
            "or scaling); train this student with a model whose logits are the plain lm_head projection"
        )
