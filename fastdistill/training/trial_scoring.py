"""A sweep trial's score on the validation split: one teacher-forced pass plus short greedy generations.

Every trial metric of the catalog (`TRIAL_METRICS`) is kept per validation
example, so the sweep can compare two trials on the same prompts with a
paired bootstrap (`fastdistill.training.selection.select`). The test split
is never read here: what is selected on must not be what is reported.
"""

from __future__ import annotations

import torch

from fastdistill.config import SweepConfig
from fastdistill.data.splits import VALIDATION
from fastdistill.evaluation.fidelity import response_logits
from fastdistill.evaluation.metrics import rouge_l_each
from fastdistill.evaluation.scores import Scores
from fastdistill.evaluation.suite import teacher_answers
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.training.losses import (
    forward_kl_topk,
    token_cross_entropy,
    top1_agreement,
)


@torch.inference_mode()
def _teacher_forced(student: HFBackend, outputs: TeacherOutputs, ids: list[str]) -> tuple[dict, list[float]]:
    """Per row: KL(teacher top-k || student), top-1 agreement and CE of the teacher's tokens; and token counts."""
    found: dict[str, dict[str, float]] = {"teacher_forced_kl": {}, "top1_agreement": {}, "eval_ce": {}}
    tokens: dict[str, int] = {}
    for r, logits, t_ids, t_lps in response_logits(student, outputs):
        row = str(r.id)
        tokens[row] = len(r.response_ids)
        found["teacher_forced_kl"][row] = forward_kl_topk(logits, t_ids, t_lps).item()
        found["top1_agreement"][row] = top1_agreement(logits, t_ids).item()
        response = torch.as_tensor(list(r.response_ids), device=student.device)
        found["eval_ce"][row] = token_cross_entropy(logits, response).item()
    return {k: [v.get(i) for i in ids] for k, v in found.items()}, [float(tokens.get(i, 0)) for i in ids]


def score_trial(student: HFBackend, outputs: TeacherOutputs, sweep: SweepConfig, split: str = VALIDATION) -> Scores:
    """The trial's metrics on at most `sweep.eval_examples` prompts of `split` (validation for the sweep)."""
    held_out = outputs.split(split)
    if held_out.frame.empty:
        raise ValueError(f"no {split} rows to score trials on; check data.validation_fraction")
    held_out = TeacherOutputs(held_out.frame.head(sweep.eval_examples).reset_index(drop=True), held_out.meta)
    frame = held_out.frame
    ids = [str(i) for i in frame["id"]]
    per_example, tokens = _teacher_forced(student, held_out, ids)
    gens = student.generate(frame["prompt"].tolist(), max_new_tokens=sweep.eval_max_new_tokens, desc="trial scoring")
    answers = [g.text for g in gens]
    per_example["rougeL_vs_teacher"] = rouge_l_each(answers, teacher_answers(frame, student.tokenizer,
                                                                             sweep.eval_max_new_tokens))
    per_example["rougeL_vs_reference"] = rouge_l_each(answers, frame["reference"].tolist())
    weights = {name: tokens for name in ("teacher_forced_kl", "top1_agreement", "eval_ce")}
    return Scores(split=split, ids=ids, per_example=per_example, weights=weights)
