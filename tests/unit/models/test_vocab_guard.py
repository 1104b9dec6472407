"""The vocabulary guard: same tokenizer required, padded lm_head rows accepted, a real mismatch named."""

from __future__ import annotations

import json
import shutil

import pytest
from transformers import AutoTokenizer

from fastdistill.models import (
    SharedVocabulary,
    VocabularyMismatchError,
    check_training_vocab,
    check_vocab_compatible,
    vocab_sha256,
)

SMOLLM2_VOCAB = 49152


def _copy_with(tiny_teacher_dir, dest, *, head_rows=None, extra_tokens=()):
    """A copy of the tiny model's directory with its config's head size and/or its tokenizer changed."""
    shutil.copytree(tiny_teacher_dir, dest)
    if head_rows is not None:
        config = json.loads((dest / "config.json").read_text())
        (dest / "config.json").write_text(json.dumps({**config, "vocab_size": head_rows}))
    if extra_tokens:
        tokenizer = AutoTokenizer.from_pretrained(dest)
        tokenizer.add_tokens(list(extra_tokens))
        tokenizer.save_pretrained(dest)
    return dest


def test_same_tokenizer_is_accepted_with_its_size_and_hash(tiny_teacher_dir):
    shared = check_vocab_compatible(tiny_teacher_dir, tiny_teacher_dir)
    sha = vocab_sha256(AutoTokenizer.from_pretrained(tiny_teacher_dir))
    assert shared == SharedVocabulary(SMOLLM2_VOCAB, sha, SMOLLM2_VOCAB, SMOLLM2_VOCAB)


def test_padded_head_rows_are_accepted_and_the_shared_size_is_the_tokenizers(tiny_teacher_dir, tmp_path):
    padded = _copy_with(tiny_teacher_dir, tmp_path / "padded", head_rows=SMOLLM2_VOCAB + 64)
    for teacher, student in ((tiny_teacher_dir, padded), (padded, tiny_teacher_dir)):
        shared = check_vocab_compatible(teacher, student)
        assert shared.size == SMOLLM2_VOCAB
        assert {shared.teacher_rows, shared.student_rows} == {SMOLLM2_VOCAB, SMOLLM2_VOCAB + 64}


def test_a_different_tokenizer_is_refused_naming_both_sizes_and_hashes(tiny_teacher_dir, tmp_path):
    other = _copy_with(tiny_teacher_dir, tmp_path / "other", extra_tokens=["<tool_call_x>"])
    teacher_sha = vocab_sha256(AutoTokenizer.from_pretrained(tiny_teacher_dir))[:12]
    other_sha = vocab_sha256(AutoTokenizer.from_pretrained(other))[:12]
    assert teacher_sha != other_sha
    expected = (f"student tokenizer \\(49153 tokens, sha256 {other_sha}\\) differs from the teacher's "
                f"\\(49152 tokens, sha256 {teacher_sha}\\)")
    with pytest.raises(VocabularyMismatchError, match=expected):
        check_vocab_compatible(tiny_teacher_dir, other)


def test_a_head_shorter_than_the_tokenizer_is_refused(tiny_teacher_dir, tmp_path):
    short = _copy_with(tiny_teacher_dir, tmp_path / "short", head_rows=32000)
    with pytest.raises(VocabularyMismatchError, match="student's lm_head has 32000 rows for a tokenizer of 49152 tokens"):
        check_vocab_compatible(tiny_teacher_dir, short)


def test_a_directory_without_tokenizer_is_named(tiny_teacher_dir, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text(json.dumps({"vocab_size": SMOLLM2_VOCAB}))
    with pytest.raises(VocabularyMismatchError, match=f"{bare}: cannot load its tokenizer"):
        check_vocab_compatible(tiny_teacher_dir, bare)


@pytest.fixture(scope="module")
def tokenizer(tiny_teacher_dir):
    return AutoTokenizer.from_pretrained(tiny_teacher_dir)


def test_training_vocab_returns_the_tokenizer_size_for_a_padded_student(tokenizer):
    sha = vocab_sha256(tokenizer)
    assert check_training_vocab(tokenizer, SMOLLM2_VOCAB + 128, sha, SMOLLM2_VOCAB, SMOLLM2_VOCAB - 1) == SMOLLM2_VOCAB


def test_training_vocab_refuses_a_store_from_another_tokenizer(tokenizer):
    with pytest.raises(VocabularyMismatchError,
                       match="written with a tokenizer of 151936 tokens \\(sha256 0123456789ab\\) but the student's "
                             "has 49152 tokens"):
        check_training_vocab(tokenizer, SMOLLM2_VOCAB, "0123456789abcdef", 151936, 10)


def test_training_vocab_refuses_store_ids_beyond_the_tokenizer(tokenizer):
    with pytest.raises(VocabularyMismatchError, match="contain token id 49200, beyond the tokenizer's 49152 tokens"):
        check_training_vocab(tokenizer, SMOLLM2_VOCAB + 64, vocab_sha256(tokenizer), SMOLLM2_VOCAB, 49200)


def test_training_vocab_refuses_a_student_head_shorter_than_the_tokenizer(tokenizer):
    with pytest.raises(VocabularyMismatchError, match="lm_head has 100 rows for a tokenizer of 49152 tokens"):
        check_training_vocab(tokenizer, 100, vocab_sha256(tokenizer), SMOLLM2_VOCAB, 5)
