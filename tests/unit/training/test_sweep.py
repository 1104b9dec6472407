"""Sweep expansion, naming, selection and the per-trial step settings."""

from __future__ import annotations

import pytest

from fastdistill.config import StudentConfig, SweepConfig, TrainingConfig
from fastdistill.run_config import ConfigError, validate_parameters
from fastdistill.evaluation.scores import Scores
from fastdistill.training.selection import TrialResult
from fastdistill.training.sweep import TRAIN_STEP, expand_trials, trial_params, with_trial_step_settings

BASE = TrainingConfig()
STUDENT = StudentConfig(num_layers=2)


def _names(grid: dict, **kw) -> list[str]:
    return [t.name for t in expand_trials(SweepConfig(grid=grid, **kw), BASE, STUDENT)]


def test_no_grid_is_one_trial_with_the_plain_step_id():
    (trial,) = expand_trials(SweepConfig(), BASE, STUDENT)
    assert trial.training == BASE and trial.student == STUDENT
    assert trial.step_id == TRAIN_STEP and trial.name == "fkl"


def test_grid_is_the_cartesian_product_with_ignored_knobs_collapsed():
    trials = expand_trials(SweepConfig(grid={"objective": ["fkl", "jsd"], "beta": [0.1, 0.9]}), BASE, STUDENT)
    # beta only matters for jsd: fkl appears once, jsd twice
    assert [t.name for t in trials] == ["fkl", "jsd_beta0p1", "jsd_beta0p9"]
    assert [t.training.beta for t in trials] == [BASE.beta, 0.1, 0.9]
    assert trials[0].params == {"objective": "fkl"}
    assert len({t.step_id for t in trials}) == 3 and all(t.step_id.startswith(TRAIN_STEP + "_") for t in trials)


def test_student_size_is_sweepable():
    trials = expand_trials(SweepConfig(grid={"num_layers": [1, 3]}), BASE, StudentConfig(num_layers=2, layer_selection="evenly_spaced"))
    assert [(t.name, t.student.num_layers, t.student.layer_selection) for t in trials] == [
        ("l1", 1, "evenly_spaced"), ("l3", 3, "evenly_spaced")]


def test_random_mode_draws_distinct_trials_reproducibly():
    grid = {"objective": ["sft", "fkl", "rkl"], "learning_rate": [1e-4, 3e-4, 1e-3]}
    first = _names(grid, mode="random", samples=4, seed=7)
    assert len(first) == len(set(first)) == 4
    assert first == _names(grid, mode="random", samples=4, seed=7)
    assert set(first) <= set(_names(grid))
    assert len(_names(grid, mode="random", samples=50)) == 9  # asking for more than exist gives all of them


@pytest.mark.parametrize("grid, message", [
    ({"learning_rate": [0.001, -1]}, "sweep.grid.learning_rate = -1"),
    ({"objective": ["fkl", "kd"]}, "sweep.grid.objective = 'kd'"),
    ({"num_layers": [0]}, "sweep.grid.num_layers = 0"),
])
def test_bad_grid_values_name_the_key_and_value(grid, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        expand_trials(SweepConfig(grid=grid), BASE, STUDENT)


def test_run_config_reports_sweep_and_step_by_step_problems():
    with pytest.raises(ConfigError, match=r"sweep\.grid: lr: not a sweepable key"):
        validate_parameters({"sweep": {"grid": {"lr": [1]}}})
    with pytest.raises(ConfigError, match="sweep.grid.beta = 2"):
        validate_parameters({"sweep": {"grid": {"objective": ["jsd"], "beta": [2]}}})
    with pytest.raises(ConfigError, match="step_by_step needs teacher.rationales: true"):
        validate_parameters({"training": {"objective": "step_by_step"}})
    assert validate_parameters({"training": {"objective": "step_by_step"}, "teacher": {"rationales": True}})
    # synthesis' self-consistency rationales reach training too
    assert validate_parameters({"training": {"objective": "step_by_step"},
                                "synthesis": {"rationale_categories": ["math"], "rationale_samples": 3}})


def test_seeds_train_every_configuration_once_per_seed():
    trials = expand_trials(SweepConfig(grid={"objective": ["sft", "fkl"]}, seeds=[0, 1]), BASE, STUDENT)
    assert [(t.name, t.config, t.training.seed) for t in trials] == [
        ("sft_s0", "sft", 0), ("sft_s1", "sft", 1), ("fkl_s0", "fkl", 0), ("fkl_s1", "fkl", 1)]
    assert [t.step_id for t in trials][:2] == ["train_student_sft_s0", "train_student_sft_s1"]
    one = expand_trials(SweepConfig(seeds=[3, 4]), BASE, STUDENT)
    assert [(t.name, t.training.seed) for t in one] == [("fkl_s3", 3), ("fkl_s4", 4)]


def test_a_trial_result_survives_the_json_round_trip_of_its_artifact():
    history = [{"step": 1, "loss": 3.5, "kd_loss": 1.25}, {"step": 2, "loss": 3.0, "kd_loss": 1.0}]
    scores = Scores(split="validation", ids=["v0", "v1"], per_example={"teacher_forced_kl": [1.0, 2.0]},
                    weights={"teacher_forced_kl": [3.0, 1.0]})
    result = TrialResult(trial="fkl", config="fkl", objective="fkl", step="train_student_fkl",
                         params=trial_params(BASE, STUDENT), scores=scores, history=history, seconds=12.3,
                         warnings=["w"], training=BASE.model_copy(update={"objective": "fkl"}), train_ids=["t0"])
    again = TrialResult.model_validate_json(result.model_dump_json())
    assert again == result and again.metrics == {"teacher_forced_kl": 1.25}  # token-weighted
    assert again.history[0]["step"] == 1 and isinstance(again.history[0]["step"], int)
    assert again.training.objective == "fkl" and again.seconds == 12.3


def test_train_student_settings_apply_to_every_trial():
    pod = {"settings": {"orchestrator.kubernetes": {"pod_settings": {"node_selectors": {"pool": "gpu-train"}}}}}
    custom = {"settings": {"resources": {"cpu_count": 2}}}
    steps = {"train_student": pod, "train_student_rkl": custom, "evaluate": {}}
    out = with_trial_step_settings(steps, ["train_student_fkl", "train_student_rkl"])
    assert out == {"train_student_fkl": pod, "train_student_rkl": custom, "evaluate": {}}
    assert with_trial_step_settings(steps, [TRAIN_STEP]) == steps
