"""Evaluation of a student on the held-out split.

Task quality: ROUGE-L of the student's answers against the seed references
and against the teacher's answers. Fidelity: teacher-forced forward KL on the
teacher's own responses (top-k approximation, see `losses`) and top-1 token
agreement. Cost: the student's generation throughput.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from rouge_score import rouge_scorer

from fastdistill.config import EvaluationConfig
from fastdistill.losses import forward_kl_topk, top1_agreement
from fastdistill.teacher.hf import HFBackend
from fastdistill.topk import TeacherOutputs

_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1; two empty texts agree perfectly (rouge_score would say 0)."""
    if not prediction.strip() and not reference.strip():
        return 1.0
    return _SCORER.score(reference, prediction)["rougeL"].fmeasure


def mean_rouge_l(predictions: list[str], references: list[str | None]) -> float | None:
    """Mean over rows that have a reference (synthesized rows have none); None if no row has one."""
    pairs = [(p, r) for p, r in zip(predictions, references) if isinstance(r, str)]
    return sum(rouge_l(p, r) for p, r in pairs) / len(pairs) if pairs else None


@dataclass
class EvalResult:
    metrics: dict[str, float]
    samples: list[dict] = field(default_factory=list)


@torch.inference_mode()
def teacher_forced_fidelity(student: HFBackend, outputs: TeacherOutputs) -> tuple[float, float]:
    """Mean per-token KL(teacher top-k || student) and top-1 agreement on the teacher's responses."""
    kls, agree, weights = [], [], []
    for r in outputs.frame.itertuples():
        n = len(r.response_ids)
        if n == 0:
            continue
        ids = torch.tensor([list(r.prompt_ids) + list(r.response_ids)], device=student.device)
        logits = student.model(input_ids=ids).logits[0, len(r.prompt_ids) - 1 : -1]
        t_ids = torch.tensor(r.topk_ids, device=student.device)
        t_lps = torch.tensor(r.topk_logprobs, device=student.device)
        kls.append(forward_kl_topk(logits, t_ids, t_lps).item())
        agree.append(top1_agreement(logits, t_ids).item())
        weights.append(n)
    total = sum(weights) or 1
    return (sum(k * w for k, w in zip(kls, weights)) / total, sum(a * w for a, w in zip(agree, weights)) / total)


def evaluate_student(student: HFBackend, outputs: TeacherOutputs, config: EvaluationConfig,
                     teacher: HFBackend | None = None) -> EvalResult:
    """Score the student on the held-out rows of the teacher outputs.

    With `teacher`, its generation speed is measured on the same prompts with
    the same batch size and token budget, so the two tokens/s are comparable.
    """
    held_out = outputs.split("eval")
    if config.max_examples is not None:
        held_out = TeacherOutputs(held_out.frame.head(config.max_examples), held_out.meta)
    if held_out.frame.empty:
        raise ValueError("no held-out (split == 'eval') rows to evaluate on; check data.eval_fraction")
    frame = held_out.frame
    gens = student.generate(
        frame["prompt"].tolist(), max_new_tokens=config.max_new_tokens, batch_size=config.batch_size, desc="student eval"
    )
    answers = [g.text for g in gens]
    kl, agreement = teacher_forced_fidelity(student, held_out)
    metrics = {
        "rougeL_vs_reference": mean_rouge_l(answers, frame["reference"].tolist()),
        "rougeL_vs_teacher": mean_rouge_l(answers, frame["response_text"].tolist()),
        "teacher_rougeL_vs_reference": mean_rouge_l(frame["response_text"].tolist(), frame["reference"].tolist()),
        "teacher_forced_kl": kl,
        "top1_agreement": agreement,
        "student_tokens_per_s": student.stats.tokens_per_s,
        "eval_examples": float(len(frame)),
    }
    if teacher is not None:
        teacher.stats = type(teacher.stats)()
        teacher.generate(frame["prompt"].tolist(), max_new_tokens=config.max_new_tokens, batch_size=config.batch_size,
                         desc="teacher speed")
        metrics["teacher_tokens_per_s"] = teacher.stats.tokens_per_s
        metrics["speedup_vs_teacher"] = student.stats.tokens_per_s / teacher.stats.tokens_per_s
    samples = [
        {"id": i, "prompt": p, "reference": ref, "teacher": t, "student": s}
        for i, p, ref, t, s in zip(frame["id"], frame["prompt"], frame["reference"], frame["response_text"], answers)
    ]
    return EvalResult({k: float(v) for k, v in metrics.items() if v is not None}, samples)
