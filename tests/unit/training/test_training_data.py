"""The top-k store lines up with the tokens the student predicts."""

import numpy as np
import pandas as pd
import torch

from fastdistill.inference.topk_store import TeacherMeta, TeacherOutputs
from fastdistill.training.trainers import (
    IGNORE,
    TopKCollator,
    build_examples,
    kd_scale_warnings,
    select_response_tokens,
)


def _outputs(rows):
    frame = pd.DataFrame(rows)
    for col in ("id", "category", "prompt", "reference", "response_text"):
        frame[col] = frame.get(col, "x")
    frame["split"] = "train"
    return TeacherOutputs(frame, TeacherMeta("tiny:t", 2, 0.0, 8, "sha"))


def _row(prompt_ids, response_ids):
    n = len(response_ids)
    # Encode the position in the top-k ids so misalignment is visible.
    ids = np.array([[100 + t, 200 + t] for t in range(n)], dtype=np.int64).reshape(n, 2)
    lps = np.log(np.full((n, 2), 0.5, dtype=np.float32))
    return {"prompt_ids": prompt_ids, "response_ids": response_ids, "topk_ids": ids, "topk_logprobs": lps}


def test_examples_mask_the_prompt_and_truncate_the_response():
    ds = build_examples(_outputs([_row([1, 2, 3], [7, 8, 9, 10])]), max_length=6)
    ex = ds[0]
    assert ex["input_ids"] == [1, 2, 3, 7, 8, 9]
    assert ex["labels"] == [IGNORE, IGNORE, IGNORE, 7, 8, 9]
    assert [r[0] for r in ex["teacher_topk_ids"]] == [100, 101, 102]


def test_collator_and_shift_align_teacher_rows_with_predicted_tokens():
    ds = build_examples(_outputs([_row([1, 2], [7, 8, 9]), _row([1], [5])]), max_length=32)
    batch = TopKCollator(pad_id=0, top_k=2)([ds[0], ds[1]])
    assert batch["input_ids"].tolist() == [[1, 2, 7, 8, 9], [1, 5, 0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]
    vocab = 300
    logits = torch.arange(2 * 5, dtype=torch.float).reshape(2, 5, 1).expand(2, 5, vocab).clone()
    sel_logits, targets, ids, _ = select_response_tokens(
        logits, batch["labels"], batch["teacher_topk_ids"], batch["teacher_topk_logprobs"]
    )
    # Row 0 predicts tokens 7, 8, 9 from positions 1, 2, 3; row 1 predicts 5 from position 0.
    assert targets.tolist() == [7, 8, 9, 5]
    assert sel_logits[:, 0].tolist() == [1.0, 2.0, 3.0, 5.0]
    assert ids[:, 0].tolist() == [100, 101, 102, 100]


def test_prompt_longer_than_max_length_is_skipped():
    ds = build_examples(_outputs([_row([1] * 10, [2]), _row([1], [2, 3])]), max_length=5)
    assert len(ds) == 1


def test_kd_scale_warning_fires_only_when_kd_is_negligible():
    assert kd_scale_warnings([{"ce_loss": 2.0, "kd_loss": 0.5}]) == []
    warned = kd_scale_warnings([{"ce_loss": 2.0, "kd_loss": 0.001}])
    assert len(warned) == 1 and "100x below CE" in warned[0]


def test_trainer_arguments_run_fp32_without_activation_recompute_on_cpu(tmp_path):
    from fastdistill.config import TrainingConfig
    from fastdistill.training.trainers import _sft_config

    # TRL defaults both bf16 and activation checkpointing on; on CPU the first is emulated, the second pure recompute.
    args = _sft_config(TrainingConfig(), str(tmp_path))
    assert torch.cuda.is_available() or (args.bf16, args.activation_checkpointing) == (False, False)
    assert _sft_config(TrainingConfig(activation_checkpointing=True), str(tmp_path)).activation_checkpointing is True
