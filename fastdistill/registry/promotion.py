"""The promotion gate: promote, hold or refuse a challenger against the champion, and why, in words.

Pure logic over two `Scores` (the challenger's and the champion's, on the
same test examples), so it is tested without a registry. With
`decision: ci` (the default) every comparison uses the 95% bootstrap CI,
oriented so that "better" is positive whatever the metric's direction:

- refuse: a health check named in `refuse_on` fired; or a threshold metric's
  whole CI lies on the wrong side of its bar (it surely misses); or a
  must-not-regress metric's paired difference to the champion lies wholly
  below -tolerance (it surely regressed).
- hold: a threshold bar lies inside the metric's CI (cannot tell yet); or
  the lower CI bound of (challenger - champion) on `metric`, paired on the
  same test prompts, does not exceed `min_delta`: an improvement within
  noise does not move the champion.
- promote: otherwise, when there is no champion or the challenger beats it
  beyond noise.
Promotion needs evidence of improvement; refusal needs evidence of a miss or
a regression. Aggregates (corpus statistics, timings) have no CI and are
compared by value. With `decision: point` the same rules read the point
estimates (the behaviour before CIs). Judge metrics are ignored when the
judge was found uninformative. Directions come from the metric catalog.

Before any of this, `incomparable` checks that the two were measured alike:
the same teacher (spec and weights) and the same test set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from fastdistill.evaluation.catalog import CATALOG
from fastdistill.evaluation.health import HealthWarning
from fastdistill.evaluation.scores import Scores
from fastdistill.evaluation.statistics import Estimate

UNINFORMATIVE_JUDGE = "uninformative_judge"


@dataclass(frozen=True)
class Policy:
    """The promotion gate's settings (see `RegistryConfig`)."""

    metric: str
    greater_is_better: bool | None = None
    min_delta: float = 0.0
    thresholds: dict[str, float] = field(default_factory=dict)
    must_not_regress: tuple[str, ...] = ()
    regression_tolerance: float = 0.0
    decision: Literal["ci", "point"] = "ci"
    refuse_on: tuple[str, ...] = ()

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


def policy_of(config) -> Policy:
    """The gate's settings from a `RegistryConfig`."""
    return Policy(config.metric, config.greater_is_better, config.min_delta, dict(config.thresholds),
                  tuple(config.must_not_regress), config.regression_tolerance, config.decision, tuple(config.refuse_on))


class Identity(BaseModel):
    """What a version's scores were measured against: its teacher and the test set."""

    teacher: str
    teacher_sha256: str | None = None
    test_set_sha256: str | None = None


def incomparable(challenger: Identity, champion: Identity, allow_teacher_change: bool = False) -> str | None:
    """Why the two cannot be ranked against each other (None: they can)."""
    other_weights = (challenger.teacher_sha256 and champion.teacher_sha256
                     and challenger.teacher_sha256 != champion.teacher_sha256)
    if (challenger.teacher != champion.teacher or other_weights) and not allow_teacher_change:
        return (f"the champion was distilled from {_teacher(champion)}, this challenger from {_teacher(challenger)}: "
                "students of different teachers are not compared (set registry.allow_teacher_change: true to allow it)")
    if challenger.test_set_sha256 != champion.test_set_sha256:
        return (f"the champion was scored on another test set ({_short(champion.test_set_sha256)}, this challenger "
                f"on {_short(challenger.test_set_sha256)}) and could not be re-scored on this one")
    return None


def _teacher(identity: Identity) -> str:
    return identity.teacher + (f" (weights {identity.teacher_sha256[:12]})" if identity.teacher_sha256 else "")


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "unrecorded"


@dataclass(frozen=True)
class _Oriented:
    """An estimate turned so that larger is better."""

    value: float
    low: float | None
    high: float | None
    text: str

    @classmethod
    def of(cls, estimate: Estimate, higher: bool, text: str | None = None) -> _Oriented:
        s = 1.0 if higher else -1.0
        bounds = (None, None) if not estimate.has_ci else tuple(sorted((s * estimate.ci_low, s * estimate.ci_high)))
        return cls(s * estimate.value, bounds[0], bounds[1], text or estimate.text(4))


def _measured(scores: Scores, name: str) -> Estimate | None:
    if not scores.measured(name):
        return None
    estimate = scores.estimate(name)
    return estimate if math.isfinite(estimate.value) else None


def _threshold(scores: Scores, name: str, bar: float, policy: Policy) -> tuple[str | None, str | None]:
    """(refusal, hold reason) for one threshold."""
    estimate = _measured(scores, name)
    if estimate is None:
        return f"threshold metric {name} was not measured", None
    higher = policy.higher(name)
    side = ">=" if higher else "<="
    o = _Oriented.of(estimate, higher)
    target = bar if higher else -bar
    if policy.decision == "point" or o.low is None:
        return (None if o.value >= target else f"{name} {o.text} misses the threshold {side} {bar}"), None
    if o.high < target:
        return f"{name} {o.text} misses the threshold {side} {bar} (its whole 95% CI)", None
    if o.low < target:
        return None, f"cannot tell yet whether {name} clears the threshold {side} {bar}: {o.text} straddles it"
    return None, None


def _difference(challenger: Scores, champion: Scores, name: str, policy: Policy) -> _Oriented | None:
    """challenger - champion on `name`, oriented; paired per example where both have per-example values."""
    ours, theirs = _measured(challenger, name), _measured(champion, name)
    if ours is None or theirs is None:
        return None
    higher = policy.higher(name)
    paired = name in challenger.per_example and name in champion.per_example and set(challenger.ids) == set(champion.ids)
    if paired and policy.decision == "ci":
        diff = challenger.paired_difference(champion, name)
        return _Oriented.of(diff, higher, f"{diff.text(4)} paired on the same {challenger.split} prompts (challenger "
                                          f"{ours.text(4)} vs champion {theirs.text(4)})")
    s = 1.0 if higher else -1.0
    return _Oriented(s * (ours.value - theirs.value), None, None,
                     f"{ours.value - theirs.value:+.4f} ({ours.text(4)} vs the champion's {theirs.text(4)})")


def _regression(challenger: Scores, champion: Scores, name: str, policy: Policy) -> str | None:
    if _measured(challenger, name) is None:
        return f"must-not-regress metric {name} was not measured"
    d = _difference(challenger, champion, name, policy)
    if d is None:
        return None
    worst = d.high if d.high is not None else d.value
    if worst < -policy.regression_tolerance:
        ci = " (its whole 95% CI)" if d.high is not None else ""
        return f"{name} regresses: difference {d.text}{ci} (tolerance {policy.regression_tolerance})"
    return None


def gate(challenger: Scores, champion: Scores | None, policy: Policy,
         warnings: Sequence[HealthWarning] = ()) -> Decision:
    """Promote, hold or refuse `challenger` against `champion` (None: no champion); see the module docstring."""
    judge_ignored = any(w.code == UNINFORMATIVE_JUDGE for w in warnings)
    usable = (lambda name: not (judge_ignored and name.startswith("judge_")))
    notes = ["judge metrics ignored: the judge was uninformative"] if judge_ignored else []
    refusals = [f"health check {w.code}: {w.message}" for w in warnings if w.code in policy.refuse_on]
    holds = []
    for name, bar in sorted(policy.thresholds.items()):
        if usable(name):
            refusal, hold = _threshold(challenger, name, bar, policy)
            refusals += [refusal] if refusal else []
            holds += [hold] if hold else []
    if champion is not None:
        refusals += [r for name in policy.must_not_regress if usable(name)
                     if (r := _regression(challenger, champion, name, policy))]
    if refusals:
        return Decision("refuse", tuple(refusals + notes))
    estimate = _measured(challenger, policy.metric)
    if estimate is None or not usable(policy.metric):
        return Decision("hold", (f"registry.metric {policy.metric} has no usable value on this challenger",))
    if champion is None:
        return Decision("hold" if holds else "promote",
                        tuple(holds or [f"there is no champion yet: promoted with {challenger.split} {policy.metric} = "
                                        f"{estimate.text(4)}"])
                        + tuple(notes))
    d = _difference(challenger, champion, policy.metric, policy)
    if d is None:
        return Decision("hold", (f"the champion has no {policy.metric} on this test set to compare with: held "
                                 f"(challenger {policy.metric} = {estimate.text(4)}); promote by hand with "
                                 "`run.py promote VERSION --reason ...` if it should replace the champion", *notes))
    bound, basis = (d.low, "the lower bound of its paired 95% CI") if d.low is not None else (d.value, "its difference")
    direction = "higher" if policy.higher(policy.metric) else "lower"
    if bound > policy.min_delta and not holds:
        reason = (f"{policy.metric} beats the champion: difference {d.text}; {basis} exceeds "
                  f"min_delta {policy.min_delta} ({direction} is better)")
        return Decision("promote", (reason, *notes))
    reason = (f"{policy.metric} does not beat the champion beyond noise: difference {d.text}; {basis} "
              f"({bound:+.4f}) does not exceed min_delta {policy.min_delta} ({direction} is better)")
    return Decision("hold", tuple(holds + ([reason] if bound <= policy.min_delta else [])) + tuple(notes))
