"""Sweep selection: on validation only, separable winners go on, ties within noise go to the simpler objective."""

from __future__ import annotations

import numpy as np
import pytest

from fastdistill.evaluation.scores import Scores
from fastdistill.training.selection import ScoredTrial, select

IDS = [f"v{i}" for i in range(40)]


def _trial(name: str, values, objective: str | None = None, config: str | None = None) -> ScoredTrial:
    scores = Scores(split="validation", ids=IDS, per_example={"rougeL_vs_teacher": list(values)})
    return ScoredTrial(trial=name, config=config or name, objective=objective or name.split("_")[0], scores=scores)


def test_a_winner_ahead_beyond_noise_goes_on_and_says_so():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 0.5, len(IDS))
    chosen = select([_trial("sft", base), _trial("fkl", base + 0.1 + rng.normal(0, 0.01, len(IDS)))],
                    "rougeL_vs_teacher")
    assert (chosen.chosen_trial, chosen.separable) == ("fkl", True)
    assert "beyond noise" in chosen.reason and "n=40" in chosen.reason and "validation" in chosen.reason


def test_a_tie_within_noise_goes_to_the_simpler_objective():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.1, 0.5, len(IDS))
    trials = [_trial("sft", base + rng.normal(0, 0.05, len(IDS))), _trial("rkl", base + rng.normal(0.01, 0.05, len(IDS)))]
    chosen = select(trials, "rougeL_vs_teacher")
    assert not chosen.separable
    assert chosen.best_config == "rkl" and chosen.chosen_config == "sft"
    assert "tie within noise" in chosen.reason and "sft, goes on" in chosen.reason


def test_lower_is_better_metrics_rank_the_other_way():
    rng = np.random.default_rng(2)
    kl = rng.uniform(1.0, 2.0, len(IDS))
    trials = []
    for name, shift in (("fkl", -0.5), ("jsd", 0.0)):
        scores = Scores(split="validation", ids=IDS, per_example={"teacher_forced_kl": list(kl + shift)})
        trials.append(ScoredTrial(trial=name, config=name, objective=name, scores=scores))
    assert select(trials, "teacher_forced_kl").chosen_trial == "fkl"


def test_seeds_of_one_config_are_averaged_and_the_best_seed_goes_on():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.1, 0.5, len(IDS))
    trials = [_trial("fkl_s0", base + 0.2, "fkl", "fkl"), _trial("fkl_s1", base + 0.3, "fkl", "fkl"),
              _trial("sft_s0", base, "sft", "sft"), _trial("sft_s1", base + 0.01, "sft", "sft")]
    chosen = select(trials, "rougeL_vs_teacher")
    fkl = next(c for c in chosen.configs if c.config == "fkl")
    assert fkl.estimate.value == pytest.approx(float(np.mean(base)) + 0.25)
    assert fkl.spread == pytest.approx(np.std([np.mean(base) + 0.2, np.mean(base) + 0.3], ddof=1))
    assert chosen.chosen_trial == "fkl_s1"


def test_trials_scored_on_different_examples_cannot_be_averaged():
    other = Scores(split="validation", ids=[f"x{i}" for i in range(40)], per_example={"rougeL_vs_teacher": [0.1] * 40})
    trials = [_trial("fkl_s0", [0.2] * 40, "fkl", "fkl"),
              ScoredTrial(trial="fkl_s1", config="fkl", objective="fkl", scores=other)]
    with pytest.raises(ValueError, match="different validation examples"):
        select(trials, "rougeL_vs_teacher")


def test_ahead_of_the_runner_up_but_tied_with_a_noisier_third_is_a_tie():
    """Separable means ahead of every other configuration: a lower-ranked one whose wide CI reaches the best
    is still tied with it, and the reason must not claim the winner is ahead beyond noise."""
    rng = np.random.default_rng(3)
    base = rng.uniform(0.3, 0.5, len(IDS))
    trials = [_trial("rkl", base + 0.10), _trial("fkl", base + 0.05 + rng.normal(0, 0.005, len(IDS))),
              _trial("sft", base + rng.normal(0.0, 0.4, len(IDS)))]  # far noisier: its CI reaches the best
    chosen = select(trials, "rougeL_vs_teacher")
    fkl, sft = (next(c for c in chosen.configs if c.config == n) for n in ("fkl", "sft"))
    assert fkl.difference.excludes(0.0) and not sft.difference.excludes(0.0)
    assert not chosen.separable and chosen.chosen_config == "sft"
    assert "tie within noise" in chosen.reason and "beyond noise" not in chosen.reason
