"""Every offline objective trains a tiny student through TRL and lowers its own loss on the teacher's data."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM

from fastdistill.config import TeacherConfig, TrainingConfig
from fastdistill.inference.chat import load_tokenizer
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.labelling import label
from fastdistill.models import build_student_by_layer_selection
from fastdistill.training.objectives import kd_objectives
from fastdistill.training.trainers import (
    TopKCollator,
    build_examples,
    select_response_tokens,
    train_student,
)

# Each KD objective's loss, from its record: (logits, topk_ids, topk_logprobs, **knobs), unread knobs ignored.
OBJECTIVE_LOSSES = {o.name: o.kd for o in kd_objectives()}


@pytest.fixture(scope="module")
def teacher_outputs(tiny_teacher_dir):
    rows = pd.DataFrame({"id": [f"r{i}" for i in range(8)], "split": "train", "category": "c",
                         "prompt": [f"Write a short line about item {i}." for i in range(8)], "reference": None})
    return label(HFBackend(tiny_teacher_dir), rows, TeacherConfig(model="tiny:teacher", top_k=8, max_new_tokens=10))


def _kd_loss(model_dir, outputs, objective, tokenizer) -> float:
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    examples = build_examples(outputs, 128)
    batch = TopKCollator(tokenizer.pad_token_id, outputs.meta.top_k)([examples[i] for i in range(len(examples))])
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    sel, _, ids, lps = select_response_tokens(logits, batch["labels"], batch["teacher_topk_ids"], batch["teacher_topk_logprobs"])
    return OBJECTIVE_LOSSES[objective](sel, ids, lps, temperature=1.0, beta=0.5, alpha=0.1).item()


@pytest.mark.parametrize("objective", sorted(OBJECTIVE_LOSSES))
def test_objective_trains_and_lowers_its_loss(objective, teacher_outputs, tiny_teacher_dir, tmp_path):
    student_dir = build_student_by_layer_selection(tiny_teacher_dir, 2, tmp_path / "init", "drop_block")
    tokenizer = load_tokenizer(student_dir)
    before = _kd_loss(student_dir, teacher_outputs, objective, tokenizer)
    config = TrainingConfig(objective=objective, ce_weight=0.0, learning_rate=5e-3, epochs=4, batch_size=4, warmup_ratio=0.0)
    result = train_student(student_dir, tokenizer, teacher_outputs, config, tmp_path / "trained")
    after = _kd_loss(result.model_dir, teacher_outputs, objective, tokenizer)
    # skew KL starts saturated near -log(alpha) when the student puts ~0 mass on the top-k, so it moves slowest
    assert after < before - 1e-3, (objective, before, after)
    logged = [row for row in result.history if "kd_loss" in row and "ce_loss" in row]
    assert len(logged) == result.history[-1]["step"] and all(r["kd_loss"] >= 0 for r in logged)
