"""Health checks flag degenerate students, position-biased or self-grading judges, and small test sets."""

from fastdistill.evaluation.health import (
    degenerate_output,
    judge_health,
    loops,
    small_test_set,
)


def test_loops_catch_repeated_phrases_and_tails_but_not_ordinary_answers():
    assert loops("the service was cold and the service was cold and the service was cold and the service")
    assert loops("Answer: 4!!!!!!!!!!!!!!!!!!!!!!")
    assert not loops("The capital of France is Paris, a city on the Seine known for its museums.")
    assert not loops("1. apples 2. pears 3. plums 4. figs")


def test_degenerate_output_counts_looping_answers_and_low_diversity():
    answers = ["the cat sat on the mat the cat sat on the mat the cat sat on the mat"] * 3 + ["Paris is the capital."] * 7
    found = degenerate_output(answers, distinct_2=0.3, teacher_distinct_2=0.9)
    assert [w.code for w in found] == ["degenerate_output", "degenerate_output"]
    assert "3 of 10 student answers (30%)" in found[0].message
    assert "distinct-2 0.30 is below half the teacher's 0.90" in found[1].message
    assert degenerate_output(["Paris is the capital."] * 10, 0.8, 0.9) == []


def test_judge_health_flags_position_bias_and_self_grading():
    biased = judge_health(1.0, 0.0, judge="packaged:smollm2-135m-instruct", teacher="packaged:smollm2-135m-instruct")
    assert [w.code for w in biased] == ["uninformative_judge", "self_judge"]
    assert "first position in 100% of verdicts" in biased[0].message
    assert judge_health(0.55, 0.8, judge="big:judge", teacher="packaged:x") == []


def test_small_test_sets_are_indicative_only():
    assert "only 12 test examples" in small_test_set(12)[0].message
    assert small_test_set(30) == []
