"""Fidelity, exposure bias, efficiency and speculative decoding on tiny in-process models."""

import numpy as np
import pandas as pd
import pytest
import torch

from fastdistill.config import TeacherConfig
from fastdistill.evaluation import efficiency, fidelity
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.labelling import label
from fastdistill.models import resolve_model

PROMPTS = ["Name a color.", "What is 2+3?", "Write a haiku about rain.", "List three fruits."]


@pytest.fixture(scope="module")
def teacher(tiny_teacher_dir):
    return HFBackend(tiny_teacher_dir)


@pytest.fixture(scope="module")
def draft(model_cache_dir):
    return HFBackend(resolve_model("tiny:draft?layers=2", model_cache_dir))


@pytest.fixture(scope="module")
def outputs(teacher):
    rows = pd.DataFrame({"id": [f"r{i}" for i in range(len(PROMPTS))], "split": "eval", "category": "x",
                         "prompt": PROMPTS, "reference": None})
    return label(teacher, rows, TeacherConfig(model="tiny:teacher", top_k=4, max_new_tokens=10))


def test_a_student_identical_to_the_teacher_has_exact_fidelity(teacher, outputs):
    result = fidelity.teacher_forced(teacher, outputs)
    assert result.top1_agreement == 1.0  # greedy teacher tokens are its own argmax
    assert result.reverse_kl == pytest.approx(0.0, abs=1e-5)  # both sides renormalised on the same top-k
    # forward KL of a perfect student is -log(top-k mass): the mass the stored top-k leaves out
    missing = []
    for r in outputs.frame.itertuples():
        ids = torch.tensor([list(r.prompt_ids) + list(r.response_ids)])
        with torch.no_grad():
            logp = torch.log_softmax(teacher.model(input_ids=ids).logits[0, len(r.prompt_ids) - 1 : -1], -1)
        top = logp.topk(4, -1).values.exp().sum(-1)
        missing.extend((-top.log()).tolist())
    assert result.forward_kl == pytest.approx(np.mean(missing), rel=1e-4)
    assert result.tokens == outputs.num_tokens == len(missing)
    # always right, so the ECE is how far below 1 its confidence is on average
    assert 0.0 < result.ece <= 1.0
    assert [len(a) for a in result.agreement_by_position] == [len(r) for r in outputs.frame["response_ids"]]


def test_free_running_agreement_of_the_teacher_with_itself_is_total(teacher, outputs):
    rows = fidelity.free_running_agreement(teacher, outputs.frame["prompt_ids"].tolist(),
                                           outputs.frame["response_ids"].tolist())
    assert all(r.all() for r in rows) and sum(len(r) for r in rows) == outputs.num_tokens


def test_position_curve_and_decay_hand_computed():
    rows = [np.array([1, 1, 0, 0], bool), np.array([1, 0], bool)]
    assert fidelity.position_curve(rows, 2) == [
        {"start": 1, "end": 2, "agreement": 0.75, "tokens": 4},
        {"start": 3, "end": 4, "agreement": 0.0, "tokens": 2},
    ]
    curve = fidelity.exposure_bias_curve([np.ones(4, bool)], rows, 2)
    assert [(c["teacher_forced"], c["free_running"]) for c in curve] == [(1.0, 0.75), (1.0, 0.0)]
    assert fidelity.exposure_bias_decay(curve) == 0.75
    assert fidelity.exposure_bias_decay(curve[:1]) is None


def test_parameters_count_tied_embeddings_once_and_disk_counts_weights_only(tiny_teacher_dir, teacher):
    from transformers import LlamaForCausalLM

    config = teacher.model.config
    assert config.tie_word_embeddings
    n = efficiency.count_parameters(teacher.model)
    untied = LlamaForCausalLM(config.__class__(**{**config.to_dict(), "tie_word_embeddings": False}))
    assert efficiency.count_parameters(untied) == n + config.vocab_size * config.hidden_size
    weights = sum(f.stat().st_size for f in tiny_teacher_dir.glob("*.safetensors"))
    assert efficiency.disk_bytes(tiny_teacher_dir) == weights
    assert weights >= 4 * n  # fp32
    assert (tiny_teacher_dir / "tokenizer.json").stat().st_size > 0  # present, and not counted


def test_latency_percentiles():
    lat = efficiency.Latency(seconds=[1.0, 2.0, 3.0, 4.0], new_tokens=[10, 10, 10, 10])
    assert lat.p50 == 2.5 and lat.p95 == pytest.approx(3.85)
    assert lat.tokens_per_s == 4.0


def test_peak_memory_sees_a_large_allocation(teacher):
    with efficiency.PeakMemory(teacher.model) as quiet:
        pass
    with efficiency.PeakMemory(teacher.model) as busy:
        block = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB
        block.add_(1)
        del block
    weights = efficiency.weight_bytes(teacher.model)
    assert quiet.peak_bytes >= weights
    assert busy.peak_bytes - weights >= 48 * 1024 * 1024


def test_speculative_decoding_keeps_the_teachers_output(teacher, draft, outputs):
    ids = outputs.frame["prompt_ids"].tolist()[:2]
    baseline = efficiency.measure_latency(teacher, ids, 8)
    assert len(baseline.seconds) == 2 and all(t >= 1 for t in baseline.new_tokens)
    same = efficiency.speculative_decoding(teacher, teacher, ids, 8, baseline)
    assert same.acceptance_rate == 1.0 and same.outputs_match == 1.0 and same.proposed > 0
    other = efficiency.speculative_decoding(teacher, draft, ids[:1], 8, baseline)
    assert other.outputs_match == 1.0  # greedy assisted decoding returns the teacher's own tokens
    assert 0.0 <= other.acceptance_rate <= 1.0 and other.accepted <= other.proposed
    assert "_get_candidate_generator" not in vars(teacher.model)  # the counting wrapper is removed
