"""KD losses on hand-computed small cases."""

import math

import pytest
import torch

from fastdistill.losses import forward_kl_topk, student_topk_logprobs, token_cross_entropy, top1_agreement


def test_forward_kl_matches_hand_computed_two_token_case():
    # Vocabulary of 3, k = 2. Token 1: teacher top-2 = ids (0, 1) with probs (0.75, 0.25) after renormalising.
    teacher_ids = torch.tensor([[0, 1], [2, 0]])
    teacher_lps = torch.log(torch.tensor([[0.6, 0.2], [0.5, 0.5]]))  # renormalise to (.75,.25) and (.5,.5)
    student_logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]]))
    expected_1 = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.25)
    expected_2 = 0.5 * math.log(0.5 / 0.5) + 0.5 * math.log(0.5 / 0.25)
    loss = forward_kl_topk(student_logits, teacher_ids, teacher_lps)
    assert loss.item() == pytest.approx((expected_1 + expected_2) / 2, abs=1e-6)


def test_forward_kl_is_zero_when_student_equals_full_vocab_teacher():
    logits = torch.randn(5, 7)
    lps = torch.log_softmax(logits, -1)
    top = lps.topk(7, -1)
    assert forward_kl_topk(logits, top.indices, top.values).item() == pytest.approx(0.0, abs=1e-6)


def test_forward_kl_with_full_vocab_equals_torch_kl_div():
    torch.manual_seed(0)
    student, teacher = torch.randn(6, 11), torch.randn(6, 11)
    top = torch.log_softmax(teacher, -1).topk(11, -1)
    reference = torch.nn.functional.kl_div(
        torch.log_softmax(student, -1), torch.log_softmax(teacher, -1), log_target=True, reduction="batchmean"
    )
    assert forward_kl_topk(student, top.indices, top.values).item() == pytest.approx(reference.item(), rel=1e-5)


def test_temperature_softens_both_sides_and_scales_by_t_squared():
    torch.manual_seed(1)
    student, teacher = torch.randn(4, 9), torch.randn(4, 9)
    t = 2.0
    top = torch.log_softmax(teacher, -1).topk(9, -1)
    reference = torch.nn.functional.kl_div(
        torch.log_softmax(student / t, -1), torch.log_softmax(teacher / t, -1), log_target=True, reduction="batchmean"
    ) * t**2
    assert forward_kl_topk(student, top.indices, top.values, temperature=t).item() == pytest.approx(reference.item(), rel=1e-5)


def test_student_mass_outside_topk_is_penalised():
    ids = torch.tensor([[0, 1]])
    lps = torch.log(torch.tensor([[0.5, 0.5]]))
    matching = torch.log(torch.tensor([[0.5, 0.5, 1e-9]]))
    leaking = torch.log(torch.tensor([[0.25, 0.25, 0.5]]))
    assert forward_kl_topk(matching, ids, lps).item() == pytest.approx(0.0, abs=1e-6)
    assert forward_kl_topk(leaking, ids, lps).item() == pytest.approx(math.log(2), abs=1e-6)


def test_student_topk_logprobs_are_normalised_over_full_vocab():
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    got = student_topk_logprobs(logits, torch.tensor([[2]]))
    assert got.item() == pytest.approx(torch.log_softmax(logits, -1)[0, 2].item())


def test_cross_entropy_and_agreement_on_hand_case():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
    assert token_cross_entropy(logits, torch.tensor([0, 2])).item() == pytest.approx(-(math.log(0.5) + math.log(0.8)) / 2, abs=1e-6)
    assert top1_agreement(logits, torch.tensor([[0, 1], [1, 2]])).item() == pytest.approx(0.5)


def test_empty_token_set_gives_zero_loss_with_gradient_path():
    logits = torch.zeros(0, 5, requires_grad=True)
    loss = forward_kl_topk(logits, torch.zeros(0, 2, dtype=torch.long), torch.zeros(0, 2))
    assert loss.item() == 0.0
    loss.backward()
