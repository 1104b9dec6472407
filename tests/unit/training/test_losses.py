"""KD losses on hand-computed small cases."""

import math

import pytest
import torch

from fastdistill.training.losses import (
    forward_kl_topk,
    student_topk_logprobs,
    token_cross_entropy,
    top1_agreement,
)


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


# --- reverse KL, generalized JSD, skew KL / skew reverse KL ------------------------------------------------------

import warnings  # noqa: E402

import torch.nn.functional as F  # noqa: E402

from fastdistill.training.losses import (  # noqa: E402
    generalized_jsd_topk,
    reverse_kl_topk,
    scaled_logsumexp,
    skew_kl_topk,
    skew_reverse_kl_topk,
    total_variation_topk,
)
from fastdistill.training.objectives import kd_objectives  # noqa: E402

# Each KD objective's loss, from its record: (logits, topk_ids, topk_logprobs, **knobs), unread knobs ignored.
OBJECTIVE_LOSSES = {o.name: o.kd for o in kd_objectives()}

KNOBS = {"temperature": 1.0, "beta": 0.5, "alpha": 0.1}


@pytest.fixture(scope="module")
def trl_generalized_jsd_loss():
    """TRL's reference: `GKDTrainer.generalized_jsd_loss` (a staticmethod in trl.experimental.gkd)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TRLExperimentalWarning on importing trl.experimental
        from trl.experimental.gkd.gkd_trainer import GKDTrainer
    return GKDTrainer.generalized_jsd_loss


def full_vocab_topk(teacher_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's top-k with k = V, stored as the teacher would store it (T = 1 logprobs)."""
    top = torch.log_softmax(teacher_logits, -1).topk(teacher_logits.shape[-1], -1)
    return top.indices, top.values


def random_pair(seed: int, n: int = 6, v: int = 13) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, v, generator=generator) * 2, torch.randn(n, v, generator=generator) * 2


def trl_per_token_mean(trl_loss, student, teacher, beta, temperature):
    """TRL on its own shapes ([batch, seq, V] logits, [batch, seq] labels): with every label valid,
    reduction="batchmean" divides the summed divergence by the token count, i.e. a per-token mean."""
    labels = torch.zeros(1, student.shape[0], dtype=torch.long)
    return trl_loss(student[None], teacher[None], labels=labels, beta=beta, temperature=temperature, reduction="batchmean")


@pytest.mark.parametrize("name", sorted(OBJECTIVE_LOSSES))
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_each_objective_is_zero_when_student_equals_full_vocab_teacher(name, temperature):
    logits = torch.randn(5, 7)
    ids, lps = full_vocab_topk(logits)
    loss = OBJECTIVE_LOSSES[name](logits, ids, lps, **{**KNOBS, "temperature": temperature})
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_objective_registry_routes_each_name_to_its_loss():
    assert set(OBJECTIVE_LOSSES) == {"fkl", "rkl", "jsd", "skl", "srkl", "tvd"}
    student, teacher = random_pair(3, v=10)
    ids, lps = full_vocab_topk(teacher)
    ids, lps = ids[:, :4], lps[:, :4]  # k < V
    knobs = {"temperature": 1.5, "beta": 0.3, "alpha": 0.2}
    expected = {
        "fkl": forward_kl_topk(student, ids, lps, 1.5),
        "rkl": reverse_kl_topk(student, ids, lps, 1.5),
        "jsd": generalized_jsd_topk(student, ids, lps, 1.5, beta=0.3),
        "skl": skew_kl_topk(student, ids, lps, 1.5, alpha=0.2),
        "srkl": skew_reverse_kl_topk(student, ids, lps, 1.5, alpha=0.2),
        "tvd": total_variation_topk(student, ids, lps, 1.5),
    }
    for name, value in expected.items():
        assert OBJECTIVE_LOSSES[name](student, ids, lps, **knobs).item() == pytest.approx(value.item(), rel=1e-6)
    assert len({round(v.item(), 6) for v in expected.values()}) == 6  # the six really differ


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_reverse_kl_with_full_vocab_equals_torch_kl_div(temperature):
    student, teacher = random_pair(4)
    ids, lps = full_vocab_topk(teacher)
    log_p, log_q = F.log_softmax(teacher / temperature, -1), F.log_softmax(student / temperature, -1)
    # F.kl_div(input, target) = KL(target || input): target = student gives KL(q || p).
    reference = F.kl_div(log_p, log_q, log_target=True, reduction="batchmean") * temperature**2
    got = reverse_kl_topk(student, ids, lps, temperature)
    assert got.item() == pytest.approx(reference.item(), rel=1e-5)
    assert got.item() > 0.1


def test_reverse_kl_matches_hand_computed_two_token_case():
    # Same data as the forward-KL hand case: V = 3, k = 2. Both sides are renormalised on the teacher's top-k.
    teacher_ids = torch.tensor([[0, 1], [2, 0]])
    teacher_lps = torch.log(torch.tensor([[0.6, 0.2], [0.5, 0.5]]))  # p = (.75, .25) and (.5, .5)
    student_logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]]))
    # Token 1: student on ids (0, 1) = (.5, .25) -> q~ = (2/3, 1/3). Token 2: on ids (2, 0) = (.5, .25) -> (2/3, 1/3).
    expected_1 = 2 / 3 * math.log((2 / 3) / 0.75) + 1 / 3 * math.log((1 / 3) / 0.25)
    expected_2 = 2 / 3 * math.log((2 / 3) / 0.5) + 1 / 3 * math.log((1 / 3) / 0.5)
    loss = reverse_kl_topk(student_logits, teacher_ids, teacher_lps)
    assert loss.item() == pytest.approx((expected_1 + expected_2) / 2, abs=1e-6)


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_generalized_jsd_with_full_vocab_equals_trl_times_t_squared(trl_generalized_jsd_loss, beta, temperature):
    student, teacher = random_pair(5)
    ids, lps = full_vocab_topk(teacher)
    reference = trl_per_token_mean(trl_generalized_jsd_loss, student, teacher, beta, temperature)
    got = generalized_jsd_topk(student, ids, lps, temperature, beta=beta)
    # TRL applies no T^2; ours does, like every loss in this module.
    assert got.item() == pytest.approx(reference.item() * temperature**2, rel=1e-5)
    assert got.item() > 0.01


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_generalized_jsd_endpoints_are_forward_and_reverse_kl_as_in_trl(trl_generalized_jsd_loss, temperature):
    student, teacher = random_pair(6)
    ids, lps = full_vocab_topk(teacher)
    scale = temperature**2
    jsd_0 = generalized_jsd_topk(student, ids, lps, temperature, beta=0.0)
    jsd_1 = generalized_jsd_topk(student, ids, lps, temperature, beta=1.0)
    trl_0 = trl_per_token_mean(trl_generalized_jsd_loss, student, teacher, 0.0, temperature)
    trl_1 = trl_per_token_mean(trl_generalized_jsd_loss, student, teacher, 1.0, temperature)
    assert jsd_0.item() == pytest.approx(trl_0.item() * scale, rel=1e-5)
    assert jsd_1.item() == pytest.approx(trl_1.item() * scale, rel=1e-5)
    # TRL: beta = 0 is forward KL(teacher || student), beta = 1 reverse KL(student || teacher).
    assert jsd_0.item() == pytest.approx(forward_kl_topk(student, ids, lps, temperature).item(), rel=1e-5)
    assert jsd_1.item() == pytest.approx(reverse_kl_topk(student, ids, lps, temperature).item(), rel=1e-5)
    assert not math.isclose(jsd_0.item(), jsd_1.item(), rel_tol=1e-2)


def test_generalized_jsd_mixture_vanishes_towards_the_endpoints_which_trl_special_cases():
    # The documented discontinuity: JSD_beta ~ beta * KL(p||q) near 0 and ~ (1 - beta) * KL(q||p) near 1.
    student, teacher = random_pair(7)
    ids, lps = full_vocab_topk(teacher)
    eps = 1e-3
    near_0 = generalized_jsd_topk(student, ids, lps, beta=eps).item()
    near_1 = generalized_jsd_topk(student, ids, lps, beta=1 - eps).item()
    assert near_0 / eps == pytest.approx(forward_kl_topk(student, ids, lps).item(), rel=2e-2)
    assert near_1 / eps == pytest.approx(reverse_kl_topk(student, ids, lps).item(), rel=2e-2)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("alpha", [0.1, 0.5])
def test_skew_losses_with_full_vocab_equal_direct_reference(temperature, alpha):
    student, teacher = random_pair(8)
    ids, lps = full_vocab_topk(teacher)
    p, q = F.softmax(teacher / temperature, -1), F.softmax(student / temperature, -1)
    scale = temperature**2
    skl = (p * (p.log() - (alpha * p + (1 - alpha) * q).log())).sum(-1).mean() * scale
    srkl = (q * (q.log() - ((1 - alpha) * p + alpha * q).log())).sum(-1).mean() * scale
    assert skew_kl_topk(student, ids, lps, temperature, alpha=alpha).item() == pytest.approx(skl.item(), rel=1e-5)
    assert skew_reverse_kl_topk(student, ids, lps, temperature, alpha=alpha).item() == pytest.approx(srkl.item(), rel=1e-5)


def test_skew_alpha_zero_is_plain_kl_and_alpha_one_is_zero_with_k_below_vocab():
    student, teacher = random_pair(9, v=12)
    ids, lps = full_vocab_topk(teacher)
    ids, lps = ids[:, :5], lps[:, :5]
    for t in (1.0, 2.0):
        fkl, rkl = forward_kl_topk(student, ids, lps, t), reverse_kl_topk(student, ids, lps, t)
        assert skew_kl_topk(student, ids, lps, t, alpha=0.0).item() == pytest.approx(fkl.item(), rel=1e-6)
        assert skew_reverse_kl_topk(student, ids, lps, t, alpha=0.0).item() == pytest.approx(rkl.item(), rel=1e-6)
        assert skew_kl_topk(student, ids, lps, t, alpha=1.0).item() == pytest.approx(0.0, abs=1e-7)
        assert skew_reverse_kl_topk(student, ids, lps, t, alpha=1.0).item() == pytest.approx(0.0, abs=1e-7)
    # Skewing shrinks the divergence: 0 < SKL_0.1 < FKL.
    assert 0.0 < skew_kl_topk(student, ids, lps, alpha=0.1).item() < forward_kl_topk(student, ids, lps).item()


@pytest.mark.parametrize("name", sorted(OBJECTIVE_LOSSES))
@pytest.mark.parametrize("edge", [0.0, 1.0])
def test_endpoints_have_finite_gradients(name, edge):
    student, teacher = random_pair(10)
    ids, lps = full_vocab_topk(teacher)
    logits = student.clone().requires_grad_()
    OBJECTIVE_LOSSES[name](logits, ids[:, :4], lps[:, :4], temperature=1.0, beta=edge, alpha=edge).backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", sorted(OBJECTIVE_LOSSES))
def test_bfloat16_logits_give_finite_fp32_loss_with_gradient(name):
    student, teacher = random_pair(11, v=50)
    ids, lps = full_vocab_topk(teacher)
    ids, lps = ids[:, :8], lps[:, :8]
    logits = student.bfloat16().requires_grad_()
    loss = OBJECTIVE_LOSSES[name](logits, ids, lps, **{**KNOBS, "temperature": 2.0})
    assert loss.dtype == torch.float32 and loss.dim() == 0 and torch.isfinite(loss)
    # Same number as fp32 logits holding the same (bf16-rounded) values: the math runs in fp32.
    reference = OBJECTIVE_LOSSES[name](logits.detach().float(), ids, lps, **{**KNOBS, "temperature": 2.0})
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    loss.backward()
    assert logits.grad.dtype == torch.bfloat16
    assert torch.isfinite(logits.grad.float()).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(OBJECTIVE_LOSSES))
def test_empty_token_set_gives_zero_for_every_objective(name):
    logits = torch.zeros(0, 5, dtype=torch.bfloat16, requires_grad=True)
    loss = OBJECTIVE_LOSSES[name](logits, torch.zeros(0, 2, dtype=torch.long), torch.zeros(0, 2), **KNOBS)
    assert loss.item() == 0.0 and loss.dtype == torch.float32
    loss.backward()
    assert logits.grad.shape == (0, 5)


@pytest.mark.parametrize(("loss", "field"), [(generalized_jsd_topk, "beta"), (skew_kl_topk, "alpha"), (skew_reverse_kl_topk, "alpha")])
def test_mixing_weight_outside_unit_interval_is_rejected_by_name(loss, field):
    student, teacher = random_pair(12)
    ids, lps = full_vocab_topk(teacher)
    with pytest.raises(ValueError, match=rf"{field} must be in \[0, 1\].*got 1.5"):
        loss(student, ids, lps, **{field: 1.5})


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_blockwise_logsumexp_matches_torch_in_value_and_gradient(temperature):
    logits = torch.randn(7, 11, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(7, dtype=torch.float64)
    got = scaled_logsumexp(logits, temperature, block_elements=25)  # 2 rows per block: 4 blocks, the last partial
    reference = torch.logsumexp(logits.float() / temperature, -1)
    assert torch.allclose(got, reference, atol=1e-6)
    (grad,) = torch.autograd.grad((got * weights).sum(), logits)
    (ref_grad,) = torch.autograd.grad((torch.logsumexp(logits / temperature, -1) * weights).sum(), logits)
    assert torch.allclose(grad, ref_grad, atol=1e-6)


def test_cross_entropy_still_ignores_minus_100_targets_like_torch():
    torch.manual_seed(2)
    logits, targets = torch.randn(5, 9), torch.tensor([3, -100, 0, 8, -100])
    expected = F.cross_entropy(logits, targets)
    assert token_cross_entropy(logits, targets).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("name", sorted(OBJECTIVE_LOSSES))
def test_no_fp32_vocab_sized_tensor_is_kept_for_backward(name):
    # The memory invariant, on what autograd keeps alive: [N, V]-sized saved tensors may only be the bf16 logits.
    student, teacher = random_pair(13, n=4, v=64)
    ids, lps = full_vocab_topk(teacher)
    logits = student.bfloat16().requires_grad_()
    saved: list[tuple[int, torch.dtype]] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved.append((tensor.numel(), tensor.dtype))
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = OBJECTIVE_LOSSES[name](logits, ids[:, :8], lps[:, :8], **{**KNOBS, "temperature": 2.0})
    loss.backward()
    vocab_sized = [dtype for numel, dtype in saved if numel >= logits.numel()]
    assert set(vocab_sized) <= {torch.bfloat16}


# --- total variation distance (DistillKit's tvd) ------------------------------------------------------------------


def test_total_variation_by_hand():
    """V = 3, teacher top-2 {0: 0.6, 1: 0.2} (renormalised: 0.75, 0.25), student softmax(log[0.5, 0.3, 0.2]):
    TV = 1/2 (|0.75 - 0.5| + |0.25 - 0.3| + 0.2 outside the top-k) = 1/2 (0.25 + 0.05 + 0.2) = 0.25."""
    student = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    ids = torch.tensor([[0, 1]])
    lps = torch.log(torch.tensor([[0.6, 0.2]]))
    assert total_variation_topk(student, ids, lps).item() == pytest.approx(0.25, abs=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_total_variation_with_full_vocab_is_half_the_l1_distance(temperature):
    student, teacher = random_pair(7)
    ids, lps = full_vocab_topk(teacher)
    p = torch.softmax(teacher / temperature, -1)
    q = torch.softmax(student / temperature, -1)
    expected = 0.5 * (p - q).abs().sum(-1).mean() * temperature**2
    assert total_variation_topk(student, ids, lps, temperature).item() == pytest.approx(expected.item(), rel=1e-5)


def test_total_variation_counts_student_mass_outside_the_teacher_top_k_and_stays_bounded():
    ids, lps = torch.tensor([[0, 1]]), torch.log(torch.tensor([[0.5, 0.5]]))
    on_support = torch.log(torch.tensor([[0.5, 0.5, 1e-9]]))
    leaking = torch.log(torch.tensor([[0.25, 0.25, 0.5]]))
    far = torch.tensor([[-40.0, -40.0, 40.0]])  # all mass outside S: the distance is at its maximum, 1
    assert total_variation_topk(on_support, ids, lps).item() == pytest.approx(0.0, abs=1e-6)
    assert total_variation_topk(leaking, ids, lps).item() == pytest.approx(0.5, abs=1e-6)
    assert total_variation_topk(far, ids, lps).item() == pytest.approx(1.0, abs=1e-6)
