"""sft, step_by_step and on-policy gkd train a tiny student through TRL; a killed trial resumes from its checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from fastdistill.config import TeacherConfig, TrainingConfig
from fastdistill.inference.chat import load_tokenizer
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.labelling import label
from fastdistill.models import build_student_by_layer_selection
from fastdistill.training.checkpoints import CheckpointMirror
from fastdistill.training.trainers import (
    IGNORE,
    RATIONALE_TASK,
    build_step_by_step_examples,
    train_student,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def outputs(tiny_teacher_dir):
    rows = pd.DataFrame({"id": [f"r{i}" for i in range(8)], "split": "train", "category": "c",
                         "prompt": [f"Write a short line about item {i}." for i in range(8)], "reference": None})
    # A random tiny teacher cannot follow the rationale format, so the rows carry the parts the way synthesis'
    # self-consistency vote leaves them, and labelling must keep them; parsing real teacher output is tested
    # in test_rationale.py.
    rows["rationale"] = [f"item {i} is item {i}, so the line names it" for i in range(8)]
    rows["answer"] = [f"Item {i} is here." if i != 3 else None for i in range(8)]
    rows["agreement"] = [1.0] * 8
    return label(HFBackend(tiny_teacher_dir), rows, TeacherConfig(model="tiny:teacher", top_k=8, max_new_tokens=10))


@pytest.fixture(scope="module")
def student(tiny_teacher_dir, tmp_path_factory):
    student_dir = build_student_by_layer_selection(tiny_teacher_dir, 2, tmp_path_factory.mktemp("init"), "drop_block")
    return student_dir, load_tokenizer(student_dir)


def _losses(history: list[dict], key: str) -> list[float]:
    return [row[key] for row in history if key in row]


def test_sft_is_cross_entropy_only_and_lowers_it(outputs, student, tmp_path):
    student_dir, tokenizer = student
    config = TrainingConfig(objective="sft", learning_rate=5e-3, epochs=3, batch_size=4, warmup_ratio=0.0)
    result = train_student(student_dir, tokenizer, outputs, config, tmp_path / "sft")
    ce = _losses(result.history, "ce_loss")
    assert len(ce) == 6 and not _losses(result.history, "kd_loss")
    assert ce[-1] < ce[0] - 0.5
    assert [r["loss"] for r in result.history] == pytest.approx(ce, rel=1e-3)  # the loss is the CE


def test_step_by_step_examples_pair_answer_and_rationale_tasks(outputs, student):
    _, tokenizer = student
    examples = build_step_by_step_examples(outputs, tokenizer, 128)
    assert len(examples) == 14  # 7 rows with both parts, two tasks each; row r3 has no parsed answer
    answer, rationale = examples[0], examples[1]
    assert (answer["task"], rationale["task"]) == (0, 1)
    target = [t for t in answer["labels"] if t != IGNORE]
    assert tokenizer.decode(target, skip_special_tokens=True) == "Item 0 is here."
    assert RATIONALE_TASK.strip() in tokenizer.decode(rationale["input_ids"])
    assert RATIONALE_TASK.strip() not in tokenizer.decode(answer["input_ids"])


def test_step_by_step_trains_both_tasks_with_their_weight(outputs, student, tmp_path):
    student_dir, tokenizer = student
    config = TrainingConfig(objective="step_by_step", rationale_weight=0.5, learning_rate=5e-3, epochs=2,
                            batch_size=14, warmup_ratio=0.0)
    result = train_student(student_dir, tokenizer, outputs, config, tmp_path / "sbs")
    first = result.history[0]
    assert first["loss"] == pytest.approx(first["ce_loss"] + 0.5 * first["rationale_loss"], rel=1e-3)
    assert result.history[-1]["rationale_loss"] < first["rationale_loss"]


def test_step_by_step_without_rationales_is_refused(outputs, student, tmp_path):
    student_dir, tokenizer = student
    bare = type(outputs)(outputs.frame.drop(columns=["rationale", "answer"]), outputs.meta)
    with pytest.raises(ValueError, match="teacher.rationales: true"):
        train_student(student_dir, tokenizer, bare, TrainingConfig(objective="step_by_step"), tmp_path / "x")


@pytest.mark.parametrize("lmbda, on_policy", [(0.0, 0.0), (1.0, 1.0)])
def test_gkd_uses_student_samples_for_a_lmbda_share_of_batches(outputs, student, tiny_teacher_dir, tmp_path, lmbda, on_policy):
    student_dir, tokenizer = student
    config = TrainingConfig(objective="gkd", lmbda=lmbda, on_policy_max_new_tokens=6, ce_weight=0.5,
                            epochs=1, batch_size=4, learning_rate=1e-3)
    result = train_student(student_dir, tokenizer, outputs, config, tmp_path / "gkd", teacher_dir=tiny_teacher_dir)
    assert _losses(result.history, "on_policy") == [on_policy, on_policy]
    assert all(kd >= 0 for kd in _losses(result.history, "kd_loss"))
    # CE on the teacher's text mixes in off-policy batches only
    assert len(_losses(result.history, "ce_loss")) == (2 if on_policy == 0.0 else 0)


def test_gkd_needs_the_teacher(outputs, student, tmp_path):
    student_dir, tokenizer = student
    with pytest.raises(ValueError, match="gkd trains on-policy"):
        train_student(student_dir, tokenizer, outputs, TrainingConfig(objective="gkd"), tmp_path / "x")


_TRAIN_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    from pathlib import Path
    from transformers import TrainerCallback
    from fastdistill.training.checkpoints import CheckpointMirror
    from fastdistill.config import TrainingConfig
    from fastdistill.inference.chat import load_tokenizer
    from fastdistill.inference.topk_store import TeacherOutputs
    from fastdistill.training.trainers import train_student

    store, student_dir, mirror_root, out_dir, kill_at = sys.argv[1:6]

    class KillAt(TrainerCallback):  # the crash: SIGKILL right after step `kill_at`, no cleanup runs
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == int(kill_at):
                os.kill(os.getpid(), signal.SIGKILL)

    config = TrainingConfig(objective="fkl", learning_rate=5e-3, epochs=2, batch_size=2, save_steps=3, seed=3)
    result = train_student(Path(student_dir), load_tokenizer(Path(student_dir)), TeacherOutputs.load(Path(store)), config,
                           Path(out_dir), checkpoints=CheckpointMirror(mirror_root), callbacks=(KillAt(),))
    print(json.dumps({"resumed_from_step": result.resumed_from_step, "last": result.history[-1]}))
""")


def _train(args: list[str]) -> subprocess.CompletedProcess:
    # The killed run cannot remove its scratch directory: keep it under the test's tmp path (args[3]'s parent).
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(Path(args[3]).parent)}
    return subprocess.run([sys.executable, "-c", _TRAIN_SCRIPT, *args], capture_output=True, text=True, env=env, timeout=600)


def test_killed_trial_resumes_from_its_checkpoint_and_ends_where_an_uninterrupted_one_does(outputs, student, tmp_path):
    student_dir, _ = student
    store = tmp_path / "store"
    outputs.save(store)
    plain = _train([str(store), str(student_dir), str(tmp_path / "m1"), str(tmp_path / "plain"), "-1"])
    assert plain.returncode == 0, plain.stderr[-3000:]

    mirror = CheckpointMirror(str(tmp_path / "m2"))
    killed = _train([str(store), str(student_dir), mirror.root, str(tmp_path / "resumed"), "5"])
    assert killed.returncode == -9  # SIGKILL after step 5 of 8: checkpoint-3 is mirrored, nothing else
    assert mirror.steps() == [3]
    resumed = _train([str(store), str(student_dir), mirror.root, str(tmp_path / "resumed"), "-1"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    plain_out, resumed_out = (json.loads(p.stdout.strip().splitlines()[-1]) for p in (plain, resumed))
    assert resumed_out["resumed_from_step"] == 3 and plain_out["resumed_from_step"] == 0
    assert resumed_out["last"]["step"] == plain_out["last"]["step"] == 8
    assert resumed_out["last"]["loss"] == pytest.approx(plain_out["last"]["loss"], rel=1e-4)
    a, b = (load_file(tmp_path / d / "model.safetensors") for d in ("plain", "resumed"))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert mirror.steps() == []  # cleared once the trained model is saved


def test_accelerate_launch_path_trains_through_a_job_directory(outputs, student, tmp_path):
    """The multi-GPU path, run with one CPU process (no GPU here): job written, `accelerate launch` runs the worker."""
    from fastdistill.training.distributed import (
        check_gpus,
        launch_command,
        train_with_accelerate,
    )

    student_dir, _ = student
    config = TrainingConfig(objective="fkl", epochs=1, batch_size=4, learning_rate=1e-3)
    result = train_with_accelerate(student_dir, outputs, config, tmp_path / "out", tmp_path / "job", available_gpus=0)
    assert (tmp_path / "out" / "model.safetensors").exists() and (tmp_path / "out" / "tokenizer.json").exists()
    assert [row["step"] for row in result.history] == [1, 2] and result.num_examples == 8
    assert "--multi_gpu" in launch_command(tmp_path, 4) and "--multi_gpu" not in launch_command(tmp_path, 1)
    with pytest.raises(RuntimeError, match=r"training.num_processes=4 needs 4 GPUs .* sees 0"):
        check_gpus(4, 0)
