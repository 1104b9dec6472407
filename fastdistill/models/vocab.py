"""The vocabulary guard: token-level KD compares distributions over one tokenizer's tokens.

Two models share a vocabulary when their tokenizers map the same strings to the
same ids (same sha256 of the sorted vocabulary, added tokens included). Their
lm_heads may still differ in size: checkpoints often pad the head to a multiple
of 64 or 128 rows (Qwen2.5-7B: 152,064 rows for a 151,936-token tokenizer). The
padded rows are not tokens; the KD loss keeps only the tokenizer's rows
(`SharedVocabulary.size`), so a padded and an unpadded model distil into each
other. A head with fewer rows than the tokenizer, or a different tokenizer, is
refused with both sizes and hashes.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path


class VocabularyMismatchError(ValueError):
    """Teacher and student vocabularies differ, so token-level distributions cannot be compared."""


@dataclass(frozen=True)
class SharedVocabulary:
    size: int  # the tokenizer's tokens: the lm_head rows the loss keeps
    sha256: str
    teacher_rows: int
    student_rows: int


@functools.lru_cache(maxsize=8)
def vocab_sha256(tokenizer) -> str:
    """Fingerprint of a tokenizer's vocabulary (string -> id, added tokens included)."""
    # Hashing 49k entries takes ~50 ms and every teacher shard's header needs it: computed once per tokenizer.
    vocab = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(vocab).encode()).hexdigest()


def _head_rows(model_dir: Path) -> int:
    config = Path(model_dir) / "config.json"
    try:
        return int(json.loads(config.read_text())["vocab_size"])
    except (OSError, KeyError, ValueError) as err:
        raise VocabularyMismatchError(f"{config}: cannot read vocab_size ({type(err).__name__}: {err})") from None


def _tokenizer(model_dir: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError) as err:
        raise VocabularyMismatchError(
            f"{model_dir}: cannot load its tokenizer ({type(err).__name__}: {err}); token-level distillation "
            "compares the teacher's and the student's tokenizers, so both model directories need one"
        ) from None


def check_vocab_compatible(teacher_dir: Path, student_dir: Path) -> SharedVocabulary:
    """The vocabulary teacher and student share, or `VocabularyMismatchError` naming both sides."""
    teacher_tok, student_tok = _tokenizer(teacher_dir), _tokenizer(student_dir)
    teacher_sha, student_sha = vocab_sha256(teacher_tok), vocab_sha256(student_tok)
    if teacher_sha != student_sha:
        raise VocabularyMismatchError(
            f"student tokenizer ({len(student_tok)} tokens, sha256 {student_sha[:12]}) differs from the teacher's "
            f"({len(teacher_tok)} tokens, sha256 {teacher_sha[:12]}): token-level distillation needs the same "
            "tokenizer; pick a student from the teacher's family or set student.num_layers"
        )
    shared = SharedVocabulary(len(teacher_tok), teacher_sha, _head_rows(teacher_dir), _head_rows(student_dir))
    for who, rows, where in (("teacher", shared.teacher_rows, teacher_dir), ("student", shared.student_rows, student_dir)):
        _check_head_covers(who, rows, shared.size, where)
    return shared


def _check_head_covers(who: str, rows: int, tokens: int, where) -> None:
    if rows < tokens:
        raise VocabularyMismatchError(
            f"{where}: the {who}'s lm_head has {rows} rows for a tokenizer of {tokens} tokens, so some tokens "
            "have no logit; the head must have at least one row per token (extra padded rows are fine)"
        )


def check_training_vocab(tokenizer, head_rows: int, store_sha256: str, store_vocab_size: int,
                         store_max_id: int) -> int:
    """At training start: the student's tokenizer is the one the teacher's top-k store was written with.

    Returns the shared vocabulary size, the number of lm_head rows the loss keeps.
    """
    size, sha = len(tokenizer), vocab_sha256(tokenizer)
    if store_sha256 and store_sha256 != sha:
        raise VocabularyMismatchError(
            f"the teacher outputs were written with a tokenizer of {store_vocab_size} tokens (sha256 "
            f"{store_sha256[:12]}) but the student's has {size} tokens (sha256 {sha[:12]}): its top-k ids would "
            "index other tokens; train a student that shares the teacher's tokenizer, or re-run teacher inference"
        )
    _check_head_covers("student", head_rows, size, "student model")
    if store_max_id >= size:
        raise VocabularyMismatchError(
            f"the teacher outputs contain token id {store_max_id}, beyond the tokenizer's {size} tokens (a padded "
            "lm_head row of the teacher made its top-k); such ids are not tokens: re-run teacher inference "
            "with its top-k restricted to the tokenizer's ids"
        )
    return size
