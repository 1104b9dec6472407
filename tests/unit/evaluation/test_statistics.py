"""Bootstrap intervals: they cover the true mean about 95% of the time, and pairing narrows a comparison."""

from __future__ import annotations

import numpy as np
import pytest

from fastdistill.evaluation.statistics import (
    Estimate,
    bootstrap_mean,
    paired_difference,
)


@pytest.mark.parametrize(("draw", "true_mean"), [
    (lambda rng, n: rng.normal(0.3, 0.1, n), 0.3),
    (lambda rng, n: rng.binomial(1, 0.3, n).astype(float), 0.3),  # exact match: 0/1 per example, skewed
])
def test_interval_covers_the_true_mean_about_95_percent_of_the_time(draw, true_mean):
    rng = np.random.default_rng(0)
    trials = 300
    covered = sum(bootstrap_mean(draw(rng, 60), seed=i).excludes(true_mean) is False for i in range(trials))
    assert 0.91 <= covered / trials <= 0.98


def test_estimate_is_seeded_and_reports_n():
    values = np.random.default_rng(1).normal(size=40)
    first, second = bootstrap_mean(values, seed=7), bootstrap_mean(values, seed=7)
    assert first == second
    assert first.n == 40 and first.value == pytest.approx(values.mean())
    assert first.ci_low < first.value < first.ci_high


def test_weighted_mean_resamples_examples_with_their_token_counts():
    rates, tokens = [1.0, 0.0, 0.5], [10, 30, 20]
    estimate = bootstrap_mean(rates, tokens)
    assert estimate.value == pytest.approx((10 * 1.0 + 0 + 20 * 0.5) / 60)
    assert estimate.n == 3


def test_degenerate_inputs_say_what_they_can():
    assert bootstrap_mean([0.4]) == Estimate(value=0.4, n=1)
    constant = bootstrap_mean([1.0] * 12)
    assert (constant.ci_low, constant.ci_high) == (1.0, 1.0)
    assert bootstrap_mean([0.2, float("nan"), 0.4]).n == 2
    with pytest.raises(ValueError, match="no finite values"):
        bootstrap_mean([float("nan")])


def test_paired_difference_is_narrower_than_separate_intervals_and_detects_a_consistent_gain():
    rng = np.random.default_rng(3)
    difficulty = rng.uniform(0, 1, 50)  # per-prompt difficulty shared by both models
    a = difficulty + 0.03 + rng.normal(0, 0.01, 50)
    b = difficulty
    diff = paired_difference(a, b)
    assert diff.value == pytest.approx(0.03, abs=0.005)
    assert diff.excludes(0.0)
    separate_a, separate_b = bootstrap_mean(a), bootstrap_mean(b)
    assert separate_a.ci_low < separate_b.ci_high  # unpaired intervals overlap: they could not tell
    assert diff.ci_high - diff.ci_low < (separate_a.ci_high - separate_a.ci_low) / 5


def test_paired_difference_of_noise_straddles_zero_and_needs_equal_lengths():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.5, 0.2, 40), rng.normal(0.5, 0.2, 40)
    assert not paired_difference(a, b).excludes(0.0)
    with pytest.raises(ValueError, match="same examples"):
        paired_difference([1.0, 2.0], [1.0])


def test_text_shows_interval_and_n():
    assert Estimate(value=0.2913, n=60, ci_low=0.2101, ci_high=0.3644).text() == "0.29 [0.21, 0.36] n=60"
    assert Estimate(value=0.5, n=1).text() == "0.50 n=1"
