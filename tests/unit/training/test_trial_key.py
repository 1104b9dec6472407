"""A trial's checkpoint key: what shapes its training, and not the teacher's timings."""

from __future__ import annotations

from dataclasses import replace

from fastdistill.inference.topk_store import TeacherMeta
from fastdistill.training.checkpoints import trial_key

META = TeacherMeta(teacher="tiny:teacher", top_k=8, temperature=0.0, max_new_tokens=32, tokenizer_sha256="ab",
                   vocab_size=100, seconds=12.5, tokens_per_s=40.0)


def _key(meta: TeacherMeta, ids=("a", "b"), lr=1e-4) -> str:
    return trial_key(meta.identity(), list(ids), {"num_layers": 2}, {"learning_rate": lr})


def test_a_teacher_rerun_with_other_timings_resumes_the_same_trial():
    rerun = replace(META, seconds=99.0, tokens_per_s=3.0)
    assert _key(rerun) == _key(META)


def test_what_shapes_training_changes_the_key():
    base = _key(META)
    assert _key(replace(META, top_k=4)) != base
    assert _key(replace(META, tokenizer_sha256="cd")) != base
    assert _key(META, ids=("a", "c")) != base
    assert _key(META, lr=2e-4) != base
