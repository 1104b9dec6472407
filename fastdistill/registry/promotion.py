"""The promotion gate: promote, hold or refuse a challenger against the champion, and one sentence saying why.

Pure logic over two metric dicts, so it is tested without a registry:
- refuse: a metric misses its configured threshold, or a must-not-regress
  metric is worse than the champion's by more than the tolerance;
- promote: otherwise, if there is no champion, or the challenger beats the
  champion's ranking metric by more than the required margin;
- hold: otherwise (it stays `challenger`).
Directions come from the metric catalog.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fastdistill.evaluation.catalog import CATALOG


@dataclass(frozen=True)
class Policy:
    """The promotion gate's settings (see `RegistryConfig`)."""

    metric: str
    greater_is_better: bool | None = None
    min_delta: float = 0.0
    thresholds: dict[str, float] = field(default_factory=dict)
    must_not_regress: tuple[str, ...] = ()
    regression_tolerance: float = 0.0

    def higher(self, name: str) -> bool:
        if name == self.metric and self.greater_is_better is not None:
            return self.greater_is_better
        return CATALOG[name].higher_is_better if name in CATALOG else True


@dataclass(frozen=True)
class Decision:
    action: str  # "promote", "hold" or "refuse"
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def decide(score: float, champion_score: float | None, greater_is_better: bool, min_delta: float,
           metric: str) -> tuple[bool, str]:
    """Whether a challenger with `score` beats the champion on the ranking metric, and one sentence saying why."""
    if champion_score is None:
        return True, f"there is no champion yet: promoted with {metric} = {score:.4f}"
    margin = score - champion_score if greater_is_better else champion_score - score
    promoted = margin > min_delta
    ours, theirs = _distinct(score, champion_score)
    verdict = "beats" if promoted else "does not beat"
    direction = "higher" if greater_is_better else "lower"
    return promoted, (f"{metric} {ours} {verdict} the champion's {theirs} by more than {min_delta} "
                      f"({direction} is better)")


def gate(metrics: dict[str, float], champion: dict[str, float] | None, policy: Policy) -> Decision:
    """Promote, hold or refuse a challenger with `metrics` against a champion with `champion` (None: no champion)."""
    refusals = []
    for name, bar in sorted(policy.thresholds.items()):
        value = metrics.get(name)
        higher = policy.higher(name)
        if value is None or not math.isfinite(value):
            refusals.append(f"threshold metric {name} was not measured")
        elif (value < bar) if higher else (value > bar):
            refusals.append(f"{name} {value:.4f} misses the threshold {'>=' if higher else '<='} {bar}")
    if champion is not None:
        for name in policy.must_not_regress:
            ours, theirs = metrics.get(name), champion.get(name)
            if ours is None:
                refusals.append(f"must-not-regress metric {name} was not measured")
            elif theirs is not None:
                worse_by = (theirs - ours) if policy.higher(name) else (ours - theirs)
                if worse_by > policy.regression_tolerance:
                    a, b = _distinct(ours, theirs)
                    refusals.append(f"{name} regresses: {a} vs the champion's {b} "
                                    f"(tolerance {policy.regression_tolerance})")
    if refusals:
        return Decision("refuse", tuple(refusals))
    score = metrics[policy.metric]
    champion_score = None if champion is None else champion.get(policy.metric)
    if champion is not None and champion_score is None:
        return Decision("promote", (f"the champion has no recorded {policy.metric}: replaced with "
                                    f"{policy.metric} = {score:.4f}",))
    promoted, reason = decide(score, champion_score, policy.higher(policy.metric), policy.min_delta, policy.metric)
    return Decision("promote" if promoted else "hold", (reason,))


def _distinct(a: float, b: float) -> tuple[str, str]:
    """Format two numbers with 4 decimals, or as many more as it takes to tell different ones apart."""
    for places in range(4, 13):
        fa, fb = f"{a:.{places}f}", f"{b:.{places}f}"
        if fa != fb or a == b:
            return fa, fb
    return repr(a), repr(b)
