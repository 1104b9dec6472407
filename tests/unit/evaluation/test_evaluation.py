"""Evaluation metrics on hand-checked cases."""

import pytest

from fastdistill.evaluation.suite import mean_rouge_l, rouge_l


def test_rouge_l_identical_disjoint_and_partial():
    assert rouge_l("the cat sat", "the cat sat") == pytest.approx(1.0)
    assert rouge_l("dogs bark", "the cat sat") == 0.0
    # LCS "the cat" = 2 tokens: precision 2/2, recall 2/3, F1 = 0.8
    assert rouge_l("the cat", "the cat sat") == pytest.approx(0.8)


def test_empty_texts_agree_and_missing_references_are_skipped():
    assert rouge_l("", "  ") == 1.0
    assert rouge_l("", "words") == 0.0
    assert mean_rouge_l(["the cat sat", "x"], ["the cat sat", None]) == pytest.approx(1.0)
    assert mean_rouge_l(["a"], [None]) is None


def test_samples_and_metric_sets_are_typed_artifacts():
    from fastdistill.evaluation.suite import EvalMetrics, Sample

    sample = Sample(id="math-003", prompt="2+3?", reference=float("nan"), teacher="5", student="6")
    assert sample.reference is None  # pandas' missing string (NaN) is a missing reference
    assert Sample.model_validate_json(sample.model_dump_json()) == sample
    assert Sample(id="a", prompt="p", reference="r", teacher="t", student="s").reference == "r"
    from fastdistill.evaluation.scores import Scores

    scores = Scores(split="test", ids=["a", "b"], per_example={"rougeL_vs_teacher": [0.25, None]},
                    aggregates={"eval_examples": 2.0})
    metrics = EvalMetrics(scores=scores, test_set_sha256="abc", teacher="t")
    assert EvalMetrics.model_validate_json(metrics.model_dump_json()) == metrics
    assert metrics.values == {"eval_examples": 2.0, "rougeL_vs_teacher": 0.25}
