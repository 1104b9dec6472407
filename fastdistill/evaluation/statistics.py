"""Uncertainty for every per-example figure: a mean, its sample size and a seeded bootstrap 95% CI.

The resampling is SciPy's (`scipy.stats.bootstrap`, BCa intervals, falling
back to percentile intervals where BCa is undefined, e.g. when almost every
value is equal); this module only decides what is resampled:
- a mean over examples (ROUGE-L per answer, exact match, a judge verdict
  per pair) resamples the examples;
- a per-token rate (teacher-forced KL, top-1 agreement) is a token-weighted
  mean of per-example means: examples are resampled with their token counts,
  so the interval reflects that tokens of one answer are not independent;
- a comparison of two models on the same prompts (trial vs trial,
  challenger vs champion, student vs teacher) resamples the PAIRS: the
  interval of the mean difference is far narrower than two separate
  intervals suggest, because both models meet the same hard and easy prompts.

Seeds are fixed, so a figure and its interval reproduce exactly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000
MIN_EXAMPLES = 30
"""Below this many test examples a figure is shown as indicative only."""


class Estimate(BaseModel):
    """A mean over `n` examples with its bootstrap confidence interval (None where n < 2)."""

    model_config = ConfigDict(frozen=True)

    value: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float = CONFIDENCE

    @property
    def has_ci(self) -> bool:
        return self.ci_low is not None and self.ci_high is not None

    def excludes(self, threshold: float) -> bool:
        """Whether the whole interval lies on one side of `threshold` (e.g. a difference that is not 0)."""
        return self.has_ci and (self.ci_low > threshold or self.ci_high < threshold)

    def text(self, digits: int = 2) -> str:
        """`0.29 [0.21, 0.36] n=60`; `0.29 n=1` without an interval; just the value when n is unknown (0)."""
        if not self.has_ci:
            return f"{_fmt(self.value, digits)} n={self.n}" if self.n else _fmt(self.value, digits)
        return f"{_fmt(self.value, digits)} [{_fmt(self.ci_low, digits)}, {_fmt(self.ci_high, digits)}] n={self.n}"


def _fmt(value: float, digits: int) -> str:
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def _clean(values: Sequence[float], weights: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(values, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if x.shape != w.shape:
        raise ValueError(f"{len(x)} values but {len(w)} weights")
    keep = np.isfinite(x) & np.isfinite(w) & (w > 0)
    return x[keep], w[keep]


def _weighted_mean(x: np.ndarray, w: np.ndarray, axis: int = -1) -> np.ndarray:
    return (x * w).sum(axis=axis) / w.sum(axis=axis)


def _interval(samples: tuple[np.ndarray, ...], statistic, seed: int, confidence: float) -> tuple[float, float]:
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DegenerateDataWarning: handled by the fallback below
            result = stats.bootstrap(samples, statistic, paired=True, vectorized=True, n_resamples=RESAMPLES,
                                     confidence_level=confidence, method=method, rng=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return low, high
    raise ValueError("the bootstrap interval is undefined for these values")


def bootstrap_mean(values: Sequence[float], weights: Sequence[float] | None = None, *, seed: int = 0,
                   confidence: float = CONFIDENCE) -> Estimate:
    """The (weighted) mean of `values` with a bootstrap CI; non-finite values and zero weights are left out.

    With `weights` (e.g. each answer's token count) the statistic is sum(w x) / sum(w), resampled by example.
    """
    x, w = _clean(values, weights)
    if len(x) == 0:
        raise ValueError("no finite values to estimate a mean from")
    value = float(_weighted_mean(x, w))
    if len(x) < 2:
        return Estimate(value=value, n=len(x), confidence=confidence)
    if np.all(x == x[0]):  # no spread: every resample gives the same mean
        return Estimate(value=value, n=len(x), ci_low=value, ci_high=value, confidence=confidence)
    low, high = _interval((x, w), _weighted_mean, seed, confidence)
    return Estimate(value=value, n=len(x), ci_low=low, ci_high=high, confidence=confidence)


def paired_difference(a: Sequence[float], b: Sequence[float], weights: Sequence[float] | None = None, *,
                      seed: int = 0, confidence: float = CONFIDENCE) -> Estimate:
    """Mean of a - b over the same examples, with a CI from resampling the pairs.

    `a[i]` and `b[i]` must score the same example; pairs where either side is not finite are left out.
    """
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"paired scores need the same examples: {len(a_arr)} vs {len(b_arr)} values")
    return bootstrap_mean(a_arr - b_arr, weights, seed=seed, confidence=confidence)
