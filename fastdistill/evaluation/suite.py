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

Everything reads the test split only (the sweep selected on validation).
Student and teacher are compared under the same decoding settings: the
teacher's stored greedy answers are cut to the evaluation's token budget
(greedy decoding is prefix-stable, so this is what the teacher would have
answered with that budget). Per-example metrics are kept per example
(`Scores`), so each carries n and a bootstrap CI; `health` flags figures that
may mislead.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, field_validator

from fastdistill.config import EvaluationConfig
from fastdistill.data.splits import TEST
from fastdistill.evaluation import efficiency, fidelity, health, judge
from fastdistill.evaluation.health import HealthWarning
from fastdistill.evaluation.metrics import (
    distinct_n,
    exact_match_each,
    mean_rouge_l,
    numeric_match_each,
    rouge_l,
    rouge_l_each,
    self_bleu,
)
from fastdistill.evaluation.scores import EvalMetrics, Scores
from fastdistill.inference.topk_store import TeacherOutputs

__all__ = ["EvalMetrics", "EvalResult", "Sample", "evaluate_student", "mean_rouge_l", "rouge_l", "teacher_answers"]

log = logging.getLogger(__name__)
MB = 1024 * 1024
_TOKEN_RATES = {"teacher_forced_kl": "forward_kl", "teacher_forced_reverse_kl": "reverse_kl",
                "top1_agreement": "top1_agreement"}


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
    scores: Scores
    samples: list[Sample] = field(default_factory=list)
    details: dict = field(default_factory=dict)  # curves and per-pair verdicts, for the report
    warnings: list[HealthWarning] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, float]:
        return self.scores.values()


def held_out(outputs: TeacherOutputs, config: EvaluationConfig, split: str = TEST) -> TeacherOutputs:
    rows = outputs.split(split)
    if config.max_examples is not None:
        rows = TeacherOutputs(rows.frame.head(config.max_examples).reset_index(drop=True), rows.meta)
    if rows.frame.empty:
        raise ValueError(f"no {split} rows to evaluate on; check data.test_fraction or data.test_path")
    return rows


def teacher_answers(frame, tokenizer, max_new_tokens: int) -> list[str]:
    """The teacher's stored answers cut to `max_new_tokens` tokens: what it answers with the student's budget."""
    return [tokenizer.decode(list(ids)[:max_new_tokens], skip_special_tokens=True).strip() for ids in frame["response_ids"]]


def _quality(answers: list[str], teacher: list[str], references: list[str | None]) -> dict[str, list[float | None]]:
    return {
        "rougeL_vs_reference": rouge_l_each(answers, references),
        "rougeL_vs_teacher": rouge_l_each(answers, teacher),
        "exact_match": exact_match_each(answers, references),
        "numeric_match": numeric_match_each(answers, references),
        "teacher_rougeL_vs_reference": rouge_l_each(teacher, references),
        "teacher_exact_match": exact_match_each(teacher, references),
        "teacher_numeric_match": numeric_match_each(teacher, references),
    }


def _diversity(answers: list[str], teacher: list[str]) -> dict[str, float]:
    found = {"distinct_1": distinct_n(answers, 1), "distinct_2": distinct_n(answers, 2),
             "self_bleu": self_bleu(answers), "teacher_distinct_2": distinct_n(teacher, 2),
             "teacher_self_bleu": self_bleu(teacher)}
    return {k: v for k, v in found.items() if v is not None}


def evaluate_student(student, outputs: TeacherOutputs, config: EvaluationConfig, teacher=None, judge_backend=None,
                     student_dir: Path | None = None, teacher_dir: Path | None = None,
                     judge_name: str | None = None, teacher_name: str | None = None) -> EvalResult:
    """Every metric group that the given parts allow, on the test split.

    Without `teacher` (an HFBackend) the free-running agreement, speed, efficiency and speculative groups are
    skipped; without `judge_backend` (an HFBackend, or a `judge.Judge` such as a served one; see
    `judge.judge_for`), or with `judge_pairs: 0`, the judge is. `judge_name` and `teacher_name`
    (model specs) let the health checks notice a judge that grades its own answers.
    """
    rows = held_out(outputs, config)
    frame = rows.frame
    ids = [str(i) for i in frame["id"]]
    prompts, references = frame["prompt"].tolist(), frame["reference"].tolist()
    reference_answers = teacher_answers(frame, student.tokenizer, config.max_new_tokens)
    gens = student.generate(prompts, max_new_tokens=config.max_new_tokens, batch_size=config.batch_size,
                            desc="student eval")
    answers = [g.text for g in gens]
    per_example = _quality(answers, reference_answers, references)
    forced = fidelity.teacher_forced(student, rows, config.ece_bins)
    per_example.update({name: forced.per_row[key] for name, key in _TOKEN_RATES.items()})
    weights = {name: [float(n) for n in forced.row_tokens] for name in _TOKEN_RATES}
    aggregates = {**_diversity(answers, reference_answers), "ece": forced.ece, "eval_examples": float(len(frame))}
    warnings = [*health.degenerate_output(answers, aggregates.get("distinct_2"), aggregates.get("teacher_distinct_2")),
                *health.small_test_set(len(frame))]
    details: dict = {}
    if teacher is not None:
        free = fidelity.free_running_agreement(teacher, [g.prompt_ids for g in gens], [g.response_ids for g in gens],
                                               config.batch_size)
        per_example["free_running_agreement"] = [float(r.mean()) if len(r) else None for r in free]
        weights["free_running_agreement"] = [float(len(r)) for r in free]
        details["exposure_bias"] = fidelity.exposure_bias_curve(forced.agreement_by_position, free, config.exposure_bucket)
        aggregates.update(_exposure(forced, free, details["exposure_bias"]))
        if config.efficiency_prompts:
            speed_prompts = _speed_prompts(outputs, frame, config.efficiency_prompts)
            measured, details["latency"] = _efficiency(student, teacher, speed_prompts, config, student_dir, teacher_dir)
            aggregates.update(measured)
    if judge_backend is not None and config.judge_pairs:
        judged, details["judge"], judge_warnings = _judge(judge_backend, config, judge.requests(frame), answers,
                                                          reference_answers, judge_name, teacher_name)
        per_example.update(judged)
        aggregates["judge_pairs"] = float(min(config.judge_pairs, len(frame)))
        warnings += judge_warnings
    samples = [
        Sample(id=i, prompt=p, reference=ref, teacher=t, student=s)
        for i, p, ref, t, s in zip(ids, prompts, references, reference_answers, answers)
    ]
    scores = Scores(split=TEST, ids=ids, per_example=per_example, weights=weights,
                    aggregates={k: float(v) for k, v in aggregates.items() if v is not None})
    return EvalResult(scores, samples, details, warnings)


def _judge(backend, config: EvaluationConfig, prompts, answers, reference_answers, judge_name, teacher_name):
    """Per-pair judge metrics on the first `judge_pairs` test prompts (None beyond), verdicts, health warnings."""
    n = min(config.judge_pairs, len(prompts))
    grader = backend if hasattr(backend, "prefer_first") else judge.LMJudge(backend, config.batch_size)
    verdict = judge.pairwise(grader, prompts[:n], answers[:n], reference_answers[:n])
    pad = [None] * (len(prompts) - n)
    judged = {
        "judge_win_rate": [p["outcome"] for p in verdict.pairs] + pad,
        "judge_preference": [(p["p_student_as_a"] + p["p_student_as_b"]) / 2 for p in verdict.pairs] + pad,
        "judge_consistency": [float(p["consistent"]) for p in verdict.pairs] + pad,
        "judge_first_position_rate": [p["first_position"] for p in verdict.pairs] + pad,
    }
    warnings = health.judge_health(verdict.first_position_rate, verdict.consistency, judge_name or teacher_name or "",
                                   teacher_name or "")
    return judged, verdict.pairs, warnings


def _speed_prompts(outputs: TeacherOutputs, test_frame, count: int) -> list[str]:
    """`count` prompts for the speed measurements: the test prompts first, then others (speed is not a score)."""
    prompts = test_frame["prompt"].tolist()
    others = [p for p in outputs.frame["prompt"] if p not in set(prompts)]
    pool = prompts + others
    return [pool[i % len(pool)] for i in range(count)]


def _exposure(forced: fidelity.TeacherForced, free: list, curve: list[dict]) -> dict:
    tokens = sum(len(r) for r in free)
    free_rate = sum(int(r.sum()) for r in free) / tokens if tokens else None
    return {"exposure_bias_gap": forced.top1_agreement - free_rate if free_rate is not None else None,
            "exposure_bias_decay": fidelity.exposure_bias_decay(curve)}


def _efficiency(student, teacher, prompts: list[str], config: EvaluationConfig,
                student_dir: Path | None, teacher_dir: Path | None) -> tuple[dict, dict]:
    """Speed at a fixed output length (`speed_new_tokens`, EOS ignored) after warm-ups, memory and size."""
    ids = [student.encode_prompt(p) for p in prompts]
    new_tokens = config.speed_new_tokens
    log.info("efficiency: %d prompts at %d new tokens, batch 1 (student, teacher%s) and batch %d",
             len(ids), new_tokens, ", assisted" if config.speculative else "", config.batch_size)
    s_lat = efficiency.measure_latency(student, ids, new_tokens)
    t_lat = efficiency.measure_latency(teacher, ids, new_tokens)
    s_tps = efficiency.batched_tokens_per_s(student, prompts, config.batch_size, new_tokens)
    t_tps = efficiency.batched_tokens_per_s(teacher, prompts, config.batch_size, new_tokens)
    s_params, t_params = efficiency.count_parameters(student.model), efficiency.count_parameters(teacher.model)
    out = {
        "student_params": float(s_params), "teacher_params": float(t_params), "param_ratio": s_params / t_params,
        "student_latency_p50_s": s_lat.p50, "student_latency_p95_s": s_lat.p95,
        "teacher_latency_p50_s": t_lat.p50, "teacher_latency_p95_s": t_lat.p95,
        "latency_speedup": t_lat.p50 / s_lat.p50 if s_lat.p50 else None,
        "student_tokens_per_s": s_tps, "teacher_tokens_per_s": t_tps,
        "speedup_vs_teacher": s_tps / t_tps if t_tps else None,
        "student_peak_memory_mb": s_lat.peak_memory_bytes / MB, "teacher_peak_memory_mb": t_lat.peak_memory_bytes / MB,
        "memory_ratio": s_lat.peak_memory_bytes / t_lat.peak_memory_bytes if t_lat.peak_memory_bytes else None,
        "speed_prompts": float(len(ids)), "speed_new_tokens": float(new_tokens),
    }
    if student_dir is not None:
        out["student_disk_mb"] = efficiency.disk_bytes(student_dir) / MB
    if teacher_dir is not None:
        out["teacher_disk_mb"] = efficiency.disk_bytes(teacher_dir) / MB
    latency = {"student_seconds": s_lat.seconds, "teacher_seconds": t_lat.seconds,
               "student_tokens": s_lat.new_tokens, "teacher_tokens": t_lat.new_tokens,
               "prompts": len(ids), "new_tokens": new_tokens, "batch_size": config.batch_size}
    if config.speculative:
        spec = efficiency.speculative_decoding(teacher, student, ids, new_tokens, t_lat)
        out.update({"spec_acceptance_rate": spec.acceptance_rate, "spec_speedup": spec.speedup,
                    "spec_outputs_match": spec.outputs_match})
        latency["speculative"] = {"proposed": spec.proposed, "accepted": spec.accepted,
                                  "tokens_per_s": spec.tokens_per_s}
    return out, latency
