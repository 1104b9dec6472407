"""Health checks: figures that may mislead are flagged wherever they are shown.

Each check returns `Warning`s with a stable `code` (the registry gate can
refuse on a code, see `registry.refuse_on`) and a sentence a person can act
on. They appear in the terminal summary, as a banner in the report, as the
MLflow tag `fastdistill.warnings`, and in the evaluation JSON.

- degenerate_output: answers caught in a loop. An answer loops when at least
  half of its word 3-grams are repeats (the same 3-gram seen earlier in the
  answer), or when it ends in one string of up to 30 characters repeated four
  or more times. Flagged when more than `LOOP_SHARE` of answers loop, or when
  the student's distinct-2 is below half the teacher's.
- uninformative_judge: the judge picked the first position in at least 90%
  (or at most 10%) of verdicts, or its two orders agreed on at most 20% of
  pairs: its verdicts follow the position, not the answers. Judge metrics are
  then marked uninformative and the gate ignores them.
- self_judge: the judge is the teacher or the student itself.
- small_test_set: fewer than `MIN_EXAMPLES` test examples: indicative only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel

from fastdistill.evaluation.statistics import MIN_EXAMPLES

LOOP_SHARE = 0.1
_TAIL_LOOP = re.compile(r"(.{1,30}?)\1{3,}\s*$", re.S)


class HealthWarning(BaseModel):
    code: str
    message: str


def loops(text: str) -> bool:
    """Whether an answer is caught in a repetition loop (see the module docstring)."""
    words = text.lower().split()
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    if len(grams) >= 6 and 1 - len(set(grams)) / len(grams) >= 0.5:
        return True
    return bool(_TAIL_LOOP.search(text.strip())) if len(text.strip()) >= 12 else False


def degenerate_output(answers: Sequence[str], distinct_2: float | None, teacher_distinct_2: float | None,
                      who: str = "student") -> list[HealthWarning]:
    looping = sum(loops(a) for a in answers)
    warnings = []
    if answers and looping / len(answers) > LOOP_SHARE:
        warnings.append(HealthWarning(code="degenerate_output", message=(
            f"{looping} of {len(answers)} {who} answers ({looping / len(answers):.0%}) are caught in a repetition "
            "loop: its quality figures describe a broken generator; train longer, on more data, or a larger student")))
    if distinct_2 is not None and teacher_distinct_2 and distinct_2 < 0.5 * teacher_distinct_2:
        warnings.append(HealthWarning(code="degenerate_output", message=(
            f"{who} distinct-2 {distinct_2:.2f} is below half the teacher's {teacher_distinct_2:.2f}: "
            "its answers repeat themselves")))
    return warnings


def judge_health(first_position_rate: float, consistency: float, judge: str, teacher: str,
                 student: str | None = None) -> list[HealthWarning]:
    warnings = []
    if first_position_rate >= 0.9 or first_position_rate <= 0.1 or consistency <= 0.2:
        warnings.append(HealthWarning(code="uninformative_judge", message=(
            f"the judge chose the first position in {first_position_rate:.0%} of verdicts and its two orders agreed "
            f"on {consistency:.0%} of pairs: its verdicts follow the position, so the judge metrics say nothing "
            "(they are ignored by the promotion gate); use a stronger judge (evaluation.judge_model)")))
    if judge in {teacher, student}:
        role = "teacher" if judge == teacher else "student"
        warnings.append(HealthWarning(code="self_judge", message=(
            f"the judge is the {role} ({judge}) judging its own answers; set evaluation.judge_model to a "
            "stronger, independent model")))
    return warnings


def small_test_set(n: int, split: str = "test") -> list[HealthWarning]:
    if n >= MIN_EXAMPLES:
        return []
    return [HealthWarning(code="small_test_set", message=(
        f"only {n} {split} examples (fewer than {MIN_EXAMPLES}): every figure is indicative only; "
        "see the width of its confidence interval"))]
