"""A student whose lm_head is padded beyond the tokenizer trains through TRL; the padded rows never get a gradient."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM

from fastdistill.config import TeacherConfig, TrainingConfig
from fastdistill.inference.chat import load_tokenizer
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.labelling import label
from fastdistill.models import VocabularyMismatchError, build_student_by_layer_selection
from fastdistill.training.trainers import train_student

VOCAB, PADDED = 49152, 49152 + 64


@pytest.fixture(scope="module")
def teacher_outputs(tiny_teacher_dir):
    rows = pd.DataFrame({"id": [f"r{i}" for i in range(4)], "split": "train", "category": "c",
                         "prompt": [f"Name a colour, number {i}." for i in range(4)], "reference": None})
    return label(HFBackend(tiny_teacher_dir), rows, TeacherConfig(model="tiny:teacher", top_k=4, max_new_tokens=8))


@pytest.fixture(scope="module")
def padded_student_dir(tiny_teacher_dir, tmp_path_factory):
    """Layer-selected student, its (tied) embedding and head padded to 49,216 rows, as Qwen-style checkpoints are."""
    out = tmp_path_factory.mktemp("padded")
    plain = build_student_by_layer_selection(tiny_teacher_dir, 2, out / "plain", "drop_block")
    model = AutoModelForCausalLM.from_pretrained(plain)
    model.resize_token_embeddings(PADDED, mean_resizing=False)
    with torch.no_grad():  # loud padded rows: were they in the softmax, they would take most of the mass
        model.get_output_embeddings().weight[VOCAB:] = 3.0 * model.get_output_embeddings().weight[:64]
    model.save_pretrained(out / "padded")
    load_tokenizer(plain).save_pretrained(out / "padded")
    return out / "padded"


def test_padded_rows_are_left_untouched_while_the_real_vocabulary_trains(padded_student_dir, teacher_outputs, tmp_path):
    tokenizer = load_tokenizer(padded_student_dir)
    before = AutoModelForCausalLM.from_pretrained(padded_student_dir).lm_head.weight.detach().clone()
    assert before.shape[0] == PADDED and len(tokenizer) == VOCAB
    config = TrainingConfig(objective="fkl", ce_weight=0.5, learning_rate=5e-3, epochs=1, batch_size=2, warmup_ratio=0.0)
    result = train_student(padded_student_dir, tokenizer, teacher_outputs, config, tmp_path / "trained")
    after = AutoModelForCausalLM.from_pretrained(result.model_dir).lm_head.weight.detach()
    assert torch.equal(after[VOCAB:], before[VOCAB:])  # no gradient: not in the loss's normaliser
    assert (after[:VOCAB] - before[:VOCAB]).abs().max() > 1e-4


def test_a_student_with_another_tokenizer_is_refused_before_training(padded_student_dir, teacher_outputs, tmp_path):
    tokenizer = load_tokenizer(padded_student_dir)
    tokenizer.add_tokens(["<not_in_the_teacher>"])
    config = TrainingConfig(epochs=1, batch_size=2)
    with pytest.raises(VocabularyMismatchError, match="written with a tokenizer of 49152 tokens .* student's has 49153"):
        train_student(padded_student_dir, tokenizer, teacher_outputs, config, tmp_path / "trained")
    assert not (tmp_path / "trained").exists()
