"""The evaluation suite: a student scored on held-out prompts against references and its teacher.

Groups (names in `metric_catalog`), following the KD-of-LLMs surveys' checklists:
- quality: ROUGE-L against references and the teacher's answers, exact and
  numeric match on references (the teacher's own scores alongside);
- fidelity and calibration: teacher-forced forward/reverse KL, top-1
  agreement and ECE, on the teacher's stored top-k (`fidelity`);
- diversity: Distinct-1/2 and Self-BLEU of the answers;
- exposure bias: top-1 agreement per response position, teacher-forced vs
  free-running, as a curve plus its gap and decay;
- judge: pairwise win rate against the teacher, both orders (`judge`);
- efficiency and speculative decoding, against the teacher on the same
  prompts and settings (`efficiency`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, field_validator

from fastdistill.config import EvaluationConfig
from fastdistill.evaluation import efficiency, fidelity, judge
from fastdistill.evaluation.metrics import (
    distinct_n,
    mean_exact_match,
    mean_numeric_match,
    mean_rouge_l,
    rouge_l,
    self_bleu,
)
from fastdistill.inference.topk_store import TeacherOutputs

__all__ = ["EvalMetrics", "EvalResult", "Sample", "evaluate_student", "mean_rouge_l", "rouge_l"]

log = logging.getLogger(__name__)
MB = 1024 * 1024


class EvalMetrics(BaseModel):
    """A set of metric values by catalog name: the `eval_metrics` artifact (and `original_teacher_metrics`).

    A model rather than a bare dict so that per-metric extras (n, a bootstrap CI) can join `values` later
    without changing what the steps pass around.
    """

    values: dict[str, float]


class Sample(BaseModel):
    """One held-out prompt with the reference, the teacher's answer and the student's (`eval_samples` rows)."""

    id: str
    prompt: str
    reference: str | None = None
    teacher: str
    student: str

    @field_validator("reference", mode="before")
    @classmethod
    def _missing_is_none(cls, value):
        return None if isinstance(value, float) and math.isnan(value) else value  # pandas' missing string is NaN


@dataclass
class EvalResult:
    metrics: dict[str, float]
    samples: list[Sample] = field(default_factory=list)
    details: dict = field(default_factory=dict)  # curves and per-pair verdicts, for the report


def held_out(outputs: TeacherOutputs, config: EvaluationConfig) -> TeacherOutputs:
    rows = outputs.split("eval")
    if config.max_examples is not None:
        rows = TeacherOutputs(rows.frame.head(config.max_examples).reset_index(drop=True), rows.meta)
    if rows.frame.empty:
        raise ValueError("no held-out (split == 'eval') rows to evaluate on; check data.eval_fraction")
    return rows


def evaluate_student(student, outputs: TeacherOutputs, config: EvaluationConfig, teacher=None, judge_backend=None,
                     student_dir: Path | None = None, teacher_dir: Path | None = None) -> EvalResult:
    """Every metric group that the given parts allow.

    Without `teacher` (an HFBackend) the free-running agreement, throughput
    comparison, efficiency and speculative groups are skipped; without
    `judge_backend` (or with `judge_pairs: 0`) the judge is.
    """
    rows = held_out(outputs, config)
    frame = rows.frame
    prompts, teacher_answers = frame["prompt"].tolist(), frame["response_text"].tolist()
    gens = student.generate(prompts, max_new_tokens=config.max_new_tokens, batch_size=config.batch_size,
                            desc="student eval")
    answers = [g.text for g in gens]
    metrics = _quality(answers, teacher_answers, frame["reference"].tolist())
    metrics.update(_diversity(answers, teacher_answers))
    forced = fidelity.teacher_forced(student, rows, config.ece_bins)
    metrics.update({"teacher_forced_kl": forced.forward_kl, "teacher_forced_reverse_kl": forced.reverse_kl,
                    "top1_agreement": forced.top1_agreement, "ece": forced.ece,
                    "student_tokens_per_s": student.stats.tokens_per_s, "eval_examples": float(len(frame))})
    details: dict = {}
    if teacher is not None:
        free = fidelity.free_running_agreement(teacher, [g.prompt_ids for g in gens], [g.response_ids for g in gens],
                                               config.batch_size)
        curve = fidelity.exposure_bias_curve(forced.agreement_by_position, free, config.exposure_bucket)
        details["exposure_bias"] = curve
        metrics.update(_exposure(forced, free, curve))
        metrics.update(_throughput(student, teacher, prompts, config))
        if config.efficiency_prompts:
            eff, details["latency"] = _efficiency(student, teacher, [g.prompt_ids for g in gens], config,
                                                  student_dir, teacher_dir)
            metrics.update(eff)
    if judge_backend is not None and config.judge_pairs:
        n = min(config.judge_pairs, len(frame))
        verdict = judge.pairwise(judge.LMJudge(judge_backend, config.batch_size), prompts[:n], answers[:n],
                                 teacher_answers[:n])
        metrics.update({"judge_win_rate": verdict.win_rate, "judge_preference": verdict.preference,
                        "judge_consistency": verdict.consistency,
                        "judge_first_position_rate": verdict.first_position_rate, "judge_pairs": float(n)})
        details["judge"] = verdict.pairs
    samples = [
        Sample(id=str(i), prompt=p, reference=ref, teacher=t, student=s)
        for i, p, ref, t, s in zip(frame["id"], prompts, frame["reference"], teacher_answers, answers)
    ]
    return EvalResult({k: float(v) for k, v in metrics.items() if v is not None}, samples, details)


def _quality(answers: list[str], teacher_answers: list[str], references: list[str | None]) -> dict:
    return {
        "rougeL_vs_reference": mean_rouge_l(answers, references),
        "rougeL_vs_teacher": mean_rouge_l(answers, teacher_answers),
        "exact_match": mean_exact_match(answers, references),
        "numeric_match": mean_numeric_match(answers, references),
        "teacher_rougeL_vs_reference": mean_rouge_l(teacher_answers, references),
        "teacher_exact_match": mean_exact_match(teacher_answers, references),
        "teacher_numeric_match": mean_numeric_match(teacher_answers, references),
    }


def _diversity(answers: list[str], teacher_answers: list[str]) -> dict:
    return {"distinct_1": distinct_n(answers, 1), "distinct_2": distinct_n(answers, 2),
            "self_bleu": self_bleu(answers), "teacher_distinct_2": distinct_n(teacher_answers, 2),
            "teacher_self_bleu": self_bleu(teacher_answers)}


def _exposure(forced: fidelity.TeacherForced, free: list, curve: list[dict]) -> dict:
    tokens = sum(len(r) for r in free)
    free_rate = sum(int(r.sum()) for r in free) / tokens if tokens else None
    return {"free_running_agreement": free_rate,
            "exposure_bias_gap": forced.top1_agreement - free_rate if free_rate is not None else None,
            "exposure_bias_decay": fidelity.exposure_bias_decay(curve)}


def _throughput(student, teacher, prompts: list[str], config: EvaluationConfig) -> dict:
    """The teacher's batched tokens/s on the same prompts, batch size and token budget as the student's."""
    teacher.stats = type(teacher.stats)()
    teacher.generate(prompts, max_new_tokens=config.max_new_tokens, batch_size=config.batch_size, desc="teacher speed")
    return {"teacher_tokens_per_s": teacher.stats.tokens_per_s,
            "speedup_vs_teacher": student.stats.tokens_per_s / teacher.stats.tokens_per_s}


def _efficiency(student, teacher, prompt_ids: list[list[int]], config: EvaluationConfig,
                student_dir: Path | None, teacher_dir: Path | None) -> tuple[dict, dict]:
    ids = prompt_ids[: config.efficiency_prompts]
    log.info("efficiency: batch-1 latency on %d prompts (student, teacher%s)", len(ids),
             ", assisted" if config.speculative else "")
    s_lat = efficiency.measure_latency(student, ids, config.max_new_tokens)
    t_lat = efficiency.measure_latency(teacher, ids, config.max_new_tokens)
    s_params, t_params = efficiency.count_parameters(student.model), efficiency.count_parameters(teacher.model)
    out = {
        "student_params": float(s_params), "teacher_params": float(t_params), "param_ratio": s_params / t_params,
        "student_latency_p50_s": s_lat.p50, "student_latency_p95_s": s_lat.p95,
        "teacher_latency_p50_s": t_lat.p50, "teacher_latency_p95_s": t_lat.p95,
        "latency_speedup": t_lat.p50 / s_lat.p50 if s_lat.p50 else None,
        "student_peak_memory_mb": s_lat.peak_memory_bytes / MB, "teacher_peak_memory_mb": t_lat.peak_memory_bytes / MB,
        "memory_ratio": s_lat.peak_memory_bytes / t_lat.peak_memory_bytes if t_lat.peak_memory_bytes else None,
    }
    if student_dir is not None:
        out["student_disk_mb"] = efficiency.disk_bytes(student_dir) / MB
    if teacher_dir is not None:
        out["teacher_disk_mb"] = efficiency.disk_bytes(teacher_dir) / MB
    latency = {"student_seconds": s_lat.seconds, "teacher_seconds": t_lat.seconds,
               "student_tokens": s_lat.new_tokens, "teacher_tokens": t_lat.new_tokens}
    if config.speculative:
        spec = efficiency.speculative_decoding(teacher, student, ids, config.max_new_tokens, t_lat)
        out.update({"spec_acceptance_rate": spec.acceptance_rate, "spec_speedup": spec.speedup,
                    "spec_outputs_match": spec.outputs_match})
        latency["speculative"] = {"proposed": spec.proposed, "accepted": spec.accepted,
                                  "tokens_per_s": spec.tokens_per_s}
    return out, latency
