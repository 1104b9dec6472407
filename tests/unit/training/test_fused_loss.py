"""The fused, chunked lm_head + KD loss equals the unfused path (full logits -> library losses), value and gradients."""

from __future__ import annotations

import pytest
import torch

from fastdistill.training.fused_loss import (
    check_head_reproduces_logits,
    default_chunk_tokens,
    fused_linear_kd_loss,
)
from fastdistill.training.losses import (
    IGNORE_INDEX,
    token_cross_entropy,
)
from fastdistill.training.objectives import kd_objectives

# Each KD objective's loss, from its record: (logits, topk_ids, topk_logprobs, **knobs), unread knobs ignored.
OBJECTIVE_LOSSES = {o.name: o.kd for o in kd_objectives()}

N, H, V, K = 11, 6, 19, 4
KNOBS = {"temperature": 1.7, "beta": 0.3, "alpha": 0.2}


def make_case(seed: int, n: int = N, vocab: int = V, bias: bool = False, padded_rows: int = 0):
    """Hidden states, a head (possibly padded beyond `vocab`), CE targets and a teacher's top-k within `vocab`."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, H, generator=g)
    weight = torch.randn(vocab + padded_rows, H, generator=g)
    b = torch.randn(vocab + padded_rows, generator=g) if bias else None
    teacher = torch.randn(n, vocab, generator=g) * 2
    top = torch.log_softmax(teacher, -1).topk(K, -1)
    targets = torch.randint(0, vocab, (n,), generator=g)
    return hidden, weight, b, targets, top.indices, top.values


def unfused(hidden, weight, bias, targets, ids, lps, objective, ce_weight, vocab=None):
    logits = torch.nn.functional.linear(hidden, weight, bias)[:, :vocab]
    ce = token_cross_entropy(logits, targets)
    kd = OBJECTIVE_LOSSES[objective](logits, ids, lps, **KNOBS)
    return ce_weight * ce + (1 - ce_weight) * kd, ce, kd


def grads_of(loss_fn, hidden, weight, bias):
    leaves = [t.clone().requires_grad_() for t in (hidden, weight, bias) if t is not None]
    total, ce, kd = loss_fn(*leaves, *([None] if bias is None else []))
    total.backward()
    return total.detach(), ce.detach(), kd.detach(), [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("objective", sorted(OBJECTIVE_LOSSES))
@pytest.mark.parametrize("chunk", [1, 3, 4, 11, 64])  # 3 and 4 leave a short last chunk; 64 > N
def test_value_and_gradients_equal_the_unfused_path(objective, chunk):
    hidden, weight, _, targets, ids, lps = make_case(seed=len(objective) * 100 + chunk)
    ref = grads_of(lambda h, w, b: unfused(h, w, b, targets, ids, lps, objective, 0.3), hidden, weight, None)

    def fused(h, w, b):
        parts = fused_linear_kd_loss(h, w, targets, ids, lps, objective=objective, ce_weight=0.3,
                                     chunk_tokens=chunk, **KNOBS)
        return parts.total, parts.ce, parts.kd

    got = grads_of(fused, hidden, weight, None)
    for name, a, b in zip(("total", "ce", "kd"), got[:3], ref[:3]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=f"{objective} {name}")
    for name, a, b in zip(("d/dhidden", "d/dweight"), got[3], ref[3]):
        assert a.abs().max() > 1e-3  # a real gradient, not two zero tensors agreeing
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=f"{objective} {name}")


def test_bias_gradient_and_padded_head_rows_equal_the_truncated_unfused_path():
    hidden, weight, bias, targets, ids, lps = make_case(seed=7, bias=True, padded_rows=5)
    ref = grads_of(lambda h, w, b: unfused(h, w, b, targets, ids, lps, "jsd", 0.5, vocab=V), hidden, weight, bias)

    def fused(h, w, b):
        parts = fused_linear_kd_loss(h, w, targets, ids, lps, bias=b, objective="jsd", ce_weight=0.5,
                                     vocab_size=V, chunk_tokens=4, **KNOBS)
        return parts.total, parts.ce, parts.kd

    got = grads_of(fused, hidden, weight, bias)
    torch.testing.assert_close(got[0], ref[0], atol=1e-5, rtol=1e-5)
    for a, b in zip(got[3], ref[3]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    d_weight, d_bias = got[3][1], got[3][2]
    # Padded rows are not tokens: no probability mass, so no gradient either.
    assert d_weight[V:].abs().max() == 0 and d_bias[V:].abs().max() == 0
    assert d_weight[:V].abs().max() > 1e-3 and d_bias[:V].abs().max() > 1e-3


def test_padded_rows_would_change_the_loss_without_truncation():
    hidden, weight, _, targets, ids, lps = make_case(seed=8, padded_rows=5)
    kept = fused_linear_kd_loss(hidden, weight, targets, ids, lps, vocab_size=V, **KNOBS).total
    leaking = fused_linear_kd_loss(hidden, weight, targets, ids, lps, **KNOBS).total
    assert kept.item() == pytest.approx(unfused(hidden, weight, None, targets, ids, lps, "fkl", 0.5, V)[0].item(), abs=1e-5)
    assert leaking.item() > kept.item() + 1e-3  # padded rows' logits soak up mass in the normaliser


def test_ignored_targets_are_skipped_by_ce_exactly_as_unfused():
    hidden, weight, _, targets, ids, lps = make_case(seed=9)
    targets[:5] = IGNORE_INDEX  # the whole first chunk of 4 has no CE target
    parts = fused_linear_kd_loss(hidden, weight, targets, ids, lps, objective="rkl", chunk_tokens=4, **KNOBS)
    ref = unfused(hidden, weight, None, targets, ids, lps, "rkl", 0.5)
    assert parts.ce.item() == pytest.approx(ref[1].item(), abs=1e-5)
    assert parts.total.item() == pytest.approx(ref[0].item(), abs=1e-5)


def test_gradients_reach_only_response_positions():
    """From [B, L, H] decoder states through response selection: prompt and padding positions get exactly 0."""
    g = torch.Generator().manual_seed(10)
    states = torch.randn(2, 6, H, generator=g, requires_grad=True)
    weight = torch.randn(V, H, generator=g, requires_grad=True)
    response = torch.tensor([[0, 0, 1, 1, 1, 0], [0, 1, 1, 0, 0, 0]], dtype=torch.bool)  # prompt, response, padding
    n = int(response.sum())
    ids = torch.randint(0, V, (n, K), generator=g)
    lps = torch.log_softmax(torch.randn(n, K, generator=g), -1)
    targets = torch.randint(0, V, (n,), generator=g)
    fused_linear_kd_loss(states[response], weight, targets, ids, lps, objective="srkl", chunk_tokens=2).total.backward()
    per_position = states.grad.abs().sum(-1)
    assert (per_position[~response] == 0).all()
    assert (per_position[response] > 0).all()


def test_empty_input_gives_zero_loss_and_zero_gradients():
    weight = torch.randn(V, H, requires_grad=True)
    hidden = torch.zeros(0, H, requires_grad=True)
    parts = fused_linear_kd_loss(hidden, weight, torch.zeros(0, dtype=torch.long),
                                 torch.zeros(0, K, dtype=torch.long), torch.zeros(0, K))
    assert (parts.total.item(), parts.ce.item(), parts.kd.item()) == (0.0, 0.0, 0.0)
    parts.total.backward()
    assert hidden.grad.shape == (0, H) and weight.grad.abs().max() == 0


def test_without_autograd_the_value_is_the_same_and_nothing_tracks_gradients():
    hidden, weight, _, targets, ids, lps = make_case(seed=11)
    hidden.requires_grad_()
    with torch.no_grad():
        parts = fused_linear_kd_loss(hidden, weight, targets, ids, lps, objective="skl", chunk_tokens=3, **KNOBS)
    assert not parts.total.requires_grad
    ref = unfused(hidden.detach(), weight, None, targets, ids, lps, "skl", 0.5)[0]
    assert parts.total.item() == pytest.approx(ref.item(), abs=1e-5)


def test_backward_scales_by_the_incoming_gradient():
    hidden, weight, _, targets, ids, lps = make_case(seed=12)
    h1, h2 = hidden.clone().requires_grad_(), hidden.clone().requires_grad_()
    fused_linear_kd_loss(h1, weight, targets, ids, lps).total.backward()
    (3.0 * fused_linear_kd_loss(h2, weight, targets, ids, lps).total).backward()
    torch.testing.assert_close(h2.grad, 3.0 * h1.grad)


def test_default_chunk_is_bounded_by_the_element_budget():
    assert default_chunk_tokens(49_152) == 341 and default_chunk_tokens(152_064) == 110
    assert default_chunk_tokens(10**9) == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"objective": "kll"}, "objective 'kll' is not one of"),
    ({"ce_weight": 1.5}, "ce_weight must be in \\[0, 1\\]"),
    ({"vocab_size": V + 1}, f"vocab_size {V + 1} must be between 1 and the lm_head's {V} rows"),
    ({"chunk_tokens": 0}, "chunk_tokens must be at least 1"),
])
def test_bad_arguments_are_named(kwargs, message):
    hidden, weight, _, targets, ids, lps = make_case(seed=13)
    with pytest.raises(ValueError, match=message):
        fused_linear_kd_loss(hidden, weight, targets, ids, lps, **kwargs)


def test_a_head_that_does_not_reproduce_the_logits_is_refused():
    head = torch.nn.Linear(H, V, bias=False)
    last = torch.randn(2, 1, H)
    with torch.no_grad():
        plain = head(last)
    check_head_reproduces_logits(plain, last, head, "plain")  # accepted
    with pytest.raises(ValueError, match="softcapped: its logits differ from lm_head"):
        check_head_reproduces_logits(30.0 * torch.tanh(plain / 30.0) + 1.0, last, head, "softcapped")


def test_shared_logsumexp_computes_once_per_logits_and_keeps_gradients():
    from fastdistill.training.losses import scaled_logsumexp, shared_logsumexp

    logits = torch.randn(5, V, requires_grad=True)
    with shared_logsumexp():
        first, again, softened = scaled_logsumexp(logits), scaled_logsumexp(logits), scaled_logsumexp(logits, 2.0)
        (first.sum() + 2 * again.sum()).backward()
    assert again is first and softened is not first
    torch.testing.assert_close(logits.grad, 3 * torch.softmax(logits.detach(), -1))
    assert scaled_logsumexp(logits) is not scaled_logsumexp(logits)  # outside the block nothing is kept
