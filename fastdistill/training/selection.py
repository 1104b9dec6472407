"""Which sweep trial goes on to evaluation: chosen on validation, and only as confidently as the data allows.

Trials of one configuration differ only by seed (`sweep.seeds`); a
configuration's score on a validation example is the mean over its seeds,
and its value the mean of those. The best configuration is compared with the
runner-up on the same validation prompts with a paired bootstrap:

- separable: the 95% CI of the difference excludes 0; the best goes on.
- tie within noise: it does not. Every configuration whose difference from
  the best is within noise is tied with it, and the tie is broken towards the
  simpler configuration: the objective listed first in the objective
  registry (sft, then the plain KL objectives, ...), then the smaller
  student, then the better point estimate. The selection says so.

Within the chosen configuration, its best seed on validation goes on.
The test split is never read here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, Field, computed_field

from fastdistill.config import TrainingConfig
from fastdistill.evaluation.catalog import higher_is_better
from fastdistill.evaluation.scores import Scores
from fastdistill.evaluation.statistics import Estimate
from fastdistill.training.objectives import OBJECTIVES


class TrialResult(BaseModel):
    """One trial's outcome: the `trial_result` artifact of its training step, one row of `sweep_results`."""

    trial: str
    config: str  # the configuration it trained; trials of one configuration differ only by seed
    step: str = ""  # the training step's invocation id
    objective: str
    num_layers: int | None = None
    params: dict = Field(default_factory=dict)  # every sweepable value of the trial (`sweep.trial_params`)
    scores: Scores  # per validation example (`fastdistill.training.trial_scoring`)
    history: list[dict[str, int | float]] = Field(default_factory=list)  # logged training rows: step, loss, ...
    mlflow_run_id: str = ""
    best: bool = False  # set on the trial that goes on to evaluation
    seconds: float = 0.0
    warnings: list[str] = Field(default_factory=list)
    training: TrainingConfig | None = None  # the trial's whole training config: the winner's is passed on
    train_ids: list[str] = Field(default_factory=list)  # the examples it learned from (audit: never a held-out id)

    @computed_field
    @property
    def metrics(self) -> dict[str, float]:
        """The point values of its validation scores (in the artifact's JSON for readers without the scores)."""
        return self.scores.values()


ScoredTrial = TrialResult


class ConfigScore(BaseModel):
    config: str
    objective: str
    trials: list[str]
    estimate: Estimate  # mean over validation examples of the per-example mean over seeds
    seed_values: list[float]  # each seed's own value: their spread is the seed-to-seed noise
    difference: Estimate | None = None  # this config minus the best, paired on the same examples

    @property
    def spread(self) -> float:
        """Standard deviation of the value over seeds (0 with one seed)."""
        if len(self.seed_values) < 2:
            return 0.0
        mean = sum(self.seed_values) / len(self.seed_values)
        return math.sqrt(sum((v - mean) ** 2 for v in self.seed_values) / (len(self.seed_values) - 1))


class Selection(BaseModel):
    metric: str
    split: str
    chosen_trial: str
    chosen_config: str
    best_config: str  # the best point estimate (equal to chosen_config unless a tie went to a simpler one)
    separable: bool
    reason: str
    configs: list[ConfigScore]


def _averaged(trials: Sequence[ScoredTrial], metric: str) -> Scores:
    """One config's per-example values averaged over its seeds (the seeds were scored on the same examples)."""
    first = trials[0].scores
    for t in trials[1:]:
        if t.scores.ids != first.ids:
            raise ValueError(f"trials {trials[0].trial} and {t.trial} were scored on different validation examples")
    columns = [t.scores.per_example[metric] for t in trials]
    mean = []
    for values in zip(*columns):
        kept = [v for v in values if v is not None and math.isfinite(v)]
        mean.append(sum(kept) / len(kept) if kept else None)
    weights = {metric: first.weights[metric]} if metric in first.weights else {}
    return Scores(split=first.split, ids=first.ids, per_example={metric: mean}, weights=weights, seed=first.seed)


def _simplicity(score: ConfigScore, trials: dict[str, ScoredTrial]) -> tuple[int, int]:
    trial = trials[score.trials[0]]
    order = list(OBJECTIVES).index(trial.objective) if trial.objective in OBJECTIVES else len(OBJECTIVES)
    return order, trial.num_layers or 0


def select(trials: Sequence[ScoredTrial], metric: str) -> Selection:
    """The configuration and trial that go on (see the module docstring), with the reason in one sentence."""
    if not trials:
        raise ValueError("no trials to select from")
    sign = 1.0 if higher_is_better(metric) else -1.0
    by_name = {t.trial: t for t in trials}
    groups: dict[str, list[ScoredTrial]] = {}
    for t in trials:
        groups.setdefault(t.config, []).append(t)
    averaged = {}
    configs = []
    for name, members in groups.items():
        usable = [m for m in members if m.scores.measured(metric)]
        if not usable:
            continue
        averaged[name] = _averaged(usable, metric)
        configs.append(ConfigScore(config=name, objective=usable[0].objective, trials=[m.trial for m in usable],
                                   estimate=averaged[name].estimate(metric),
                                   seed_values=[m.scores.estimate(metric).value for m in usable]))
    if not configs:
        raise ValueError(f"no trial produced metric '{metric}'; trials: {[t.trial for t in trials]}")
    configs.sort(key=lambda c: -sign * c.estimate.value)
    best = configs[0]
    for c in configs[1:]:
        c.difference = averaged[c.config].paired_difference(averaged[best.config], metric)
    split = trials[0].scores.split
    if len(configs) == 1:
        chosen, separable = best, True
        reason = f"a single configuration, {best.config}: {metric} {best.estimate.text()} on {split}"
    else:
        runner = configs[1]
        gap = runner.difference  # runner - best
        tied = [best] + [c for c in configs[1:] if not c.difference.excludes(0.0)]
        separable = len(tied) == 1  # ahead of every other configuration beyond noise, not only the runner-up
        chosen = min(tied, key=lambda c: (*_simplicity(c, by_name), -sign * c.estimate.value))
        if separable:
            reason = (f"{best.config} is ahead of every other configuration on {split} {metric} beyond noise; of "
                      f"the runner-up {runner.config} by {_neg(gap).text()} (paired, 95% CI excludes 0)")
        else:
            others = ", ".join(c.config for c in tied if c is not best)
            reason = (f"tie within noise on {split} {metric}: {best.config} leads {runner.config} by "
                      f"{_neg(gap).text()}; the paired 95% CI of its lead over {others} includes 0; "
                      + (f"the simplest of the tied, {chosen.config}, goes on"
                         if chosen is not best else f"{best.config}, also the simplest of them, goes on"))
    seeds = [by_name[name] for name in chosen.trials]
    best_seed = max(seeds, key=lambda t: sign * t.scores.estimate(metric).value)
    return Selection(metric=metric, split=split, chosen_trial=best_seed.trial, chosen_config=chosen.config,
                     best_config=best.config, separable=separable, reason=reason, configs=configs)


def _neg(difference: Estimate) -> Estimate:
    """best - runner from runner - best."""
    return Estimate(value=-difference.value, n=difference.n,
                    ci_low=None if difference.ci_high is None else -difference.ci_high,
                    ci_high=None if difference.ci_low is None else -difference.ci_low,
                    confidence=difference.confidence)


def mark_best(results: Sequence[TrialResult], selection: Selection) -> list[TrialResult]:
    """The results with `best` set on exactly the chosen trial."""
    return [r.model_copy(update={"best": r.trial == selection.chosen_trial}) for r in results]
