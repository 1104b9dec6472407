"""Text and calibration metrics on hand-built cases with known values."""

import pytest

from fastdistill.evaluation.metrics import (
    distinct_n,
    exact_match,
    expected_calibration_error,
    last_number,
    mean_exact_match,
    mean_numeric_match,
    numeric_match,
    self_bleu,
)


def test_exact_match_normalises_case_punctuation_and_articles():
    assert exact_match("The Paris.", "paris")
    assert exact_match("  positive ", "Positive!")
    assert not exact_match("Paris, France", "Paris")
    assert mean_exact_match(["Paris", "Rome", "x"], ["paris", "Milan", None]) == 0.5


def test_numeric_match_compares_the_last_number():
    assert last_number("The answer is 1,250.") == 1250.0
    assert last_number("from -3 to 4.5") == 4.5
    assert numeric_match("3 + 4 = 7", "7")
    assert numeric_match("so it is 3/4", "0.75")  # fractions are compared by value
    assert numeric_match("12 apples", "13") is False
    assert numeric_match("no digits here", "42") is False
    assert numeric_match("anything", "a colour") is None  # not verifiable by number
    # mean over verifiable rows only: "red" and None are skipped
    assert mean_numeric_match(["7", "8", "red", "1"], ["7", "9", "red", None]) == 0.5
    assert mean_numeric_match(["red"], ["blue"]) is None


def test_ece_of_a_perfectly_calibrated_predictor_is_zero():
    # 80% confident and right 4 times in 5; 60% confident and right 3 times in 5
    conf = [0.8] * 5 + [0.6] * 5
    correct = [1, 1, 1, 1, 0] + [1, 1, 1, 0, 0]
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0)


def test_ece_hand_computed_cases():
    assert expected_calibration_error([0.9] * 4, [0] * 4) == pytest.approx(0.9)  # always confident, always wrong
    # bin (0.8, 0.9]: accuracy 0.5 vs confidence 0.9 -> 0.4, weight 2/3; bin (0.2, 0.3]: 1 vs 0.3 -> 0.7, weight 1/3
    assert expected_calibration_error([0.9, 0.9, 0.3], [1, 0, 1]) == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.7)
    assert expected_calibration_error([], []) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        expected_calibration_error([0.5], [1, 0])


def test_distinct_n_of_a_repeated_string():
    assert distinct_n(["a a a a"], 1) == pytest.approx(1 / 4)
    assert distinct_n(["a a a a"], 2) == pytest.approx(1 / 3)
    assert distinct_n(["the cat", "the dog"], 1) == pytest.approx(3 / 4)
    assert distinct_n(["one two three"], 2) == 1.0
    assert distinct_n(["single"], 2) == 0.0  # no bigram at all


def test_self_bleu_is_one_for_copies_and_zero_for_disjoint_texts():
    assert self_bleu(["the cat sat on the mat", "the cat sat on the mat"]) == pytest.approx(1.0)
    assert self_bleu(["alpha beta gamma delta", "one two three four"]) == 0.0
    partial = self_bleu(["the cat sat on the mat today", "the dog sat on the mat today"])
    assert 0.0 < partial < 1.0
    assert self_bleu(["only one"]) is None and self_bleu(["a b", "  "]) is None
