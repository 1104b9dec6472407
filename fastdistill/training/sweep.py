"""The training sweep: which trials a `sweep:` section asks for, how each is scored, which one wins.

A trial is one (TrainingConfig, StudentConfig) pair. The grid is expanded in
`SWEEP_KEYS` order; knobs an objective does not read (its record in
`fastdistill.training.objectives`: beta outside jsd/gkd, alpha outside
skl/srkl, temperature and ce_weight for the pure cross-entropy objectives,
...) are reset to the base value, so two combinations that train the same
thing become one trial; with `sweep.seeds` every combination trains once per seed. Trials are
scored on the validation split with the catalog's trial metrics (one teacher-forced pass plus
short greedy generations, see `fastdistill.training.trial_scoring`), and
`fastdistill.training.selection` decides, with paired CIs, which goes on to evaluation on test. This module is pure Python: config validation
imports it, and must not pay for torch and transformers.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass

from pydantic import ValidationError

from fastdistill.config import SWEEP_KEYS, StudentConfig, SweepConfig, TrainingConfig
from fastdistill.training.objectives import KNOBS, OBJECTIVES

TRAIN_STEP = "train_student"
"""Invocation id of the training step without a sweep; a sweep's trials are `train_student_<trial>`."""

_ABBREVIATIONS = {"learning_rate": "lr", "temperature": "t", "ce_weight": "ce", "num_layers": "l", "epochs": "ep"}


@dataclass(frozen=True)
class Trial:
    name: str
    training: TrainingConfig
    student: StudentConfig
    params: dict  # the swept values that matter for this trial's objective
    step_id: str = TRAIN_STEP  # the ZenML invocation id of its training step
    config: str = ""  # the configuration it trains: its name without the seed (trials of one config differ by seed)

    @property
    def config_name(self) -> str:
        return self.config or self.name


def matters(knob: str, objective: str) -> bool:
    """Whether a swept key changes what `objective` trains: shared keys always do, objective knobs if it reads them."""
    return knob not in KNOBS or OBJECTIVES[objective].reads(knob)


def _effective(combo: dict, base: TrainingConfig) -> dict:
    """The combo with knobs its objective ignores reset to the base value (so equal trainings compare equal)."""
    objective = combo.get("objective", base.objective)
    if objective not in OBJECTIVES:
        return combo  # _build names the bad value
    return {k: (v if matters(k, objective) else getattr(base, k)) for k, v in combo.items()}


def _build(combo: dict, base: TrainingConfig, student: StudentConfig) -> tuple[TrainingConfig, StudentConfig]:
    overrides = {k: v for k, v in combo.items() if k != "num_layers"}
    try:
        training = TrainingConfig.model_validate({**base.model_dump(), **overrides})
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"sweep.grid.{key} = {first['input']!r}: {first['msg']}") from None
    if "num_layers" in combo:
        value = combo["num_layers"]
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"sweep.grid.num_layers = {value!r}: expected a positive number of teacher layers to keep")
        student = StudentConfig(num_layers=value, layer_selection=student.layer_selection)
    return training, student


def _format(value) -> str:
    text = value if isinstance(value, str) else format(value, "g")
    return re.sub(r"[^a-z0-9]", "", str(text).lower().replace(".", "p").replace("-", "m"))


def _name(params: dict, varying: set[str]) -> str:
    parts = [str(params.get("objective", ""))] if "objective" in varying else []
    parts += [f"{_ABBREVIATIONS.get(k, k)}{_format(v)}" for k, v in params.items() if k != "objective" and k in varying]
    return "_".join(p for p in parts if p)


def expand_trials(sweep: SweepConfig, training: TrainingConfig, student: StudentConfig) -> list[Trial]:
    """Every distinct trial the sweep asks for, in grid order; no grid: the single trial `training` describes."""
    seeds = sweep.seeds or [training.seed]
    if not sweep.grid and len(seeds) == 1:
        return [Trial(training.objective, training.model_copy(update={"seed": seeds[0]}), student,
                      {"objective": training.objective})]
    keys = [k for k in SWEEP_KEYS if k in sweep.grid] or ["objective"]
    grid = sweep.grid or {"objective": [training.objective]}
    combos, seen = [], set()
    for values in itertools.product(*(grid[k] for k in keys)):
        combo = _effective(dict(zip(keys, values)), training)
        key = tuple(sorted((k, repr(v)) for k, v in combo.items()))
        if key not in seen:
            seen.add(key)
            combos.append(combo)
    if sweep.mode == "random" and sweep.samples < len(combos):
        picked = sorted(random.Random(sweep.seed).sample(range(len(combos)), sweep.samples))
        combos = [combos[i] for i in picked]
    varying = {k for k in keys if len({repr(c[k]) for c in combos}) > 1} or {"objective"}
    trials = []
    for combo in combos:
        trained, shaped = _build(combo, training, student)
        params = {k: v for k, v in combo.items() if matters(k, trained.objective)}
        config = _name({"objective": trained.objective, **params}, varying)
        for seed in seeds:
            name = config if len(seeds) == 1 else f"{config}_s{_format(seed)}"
            trials.append(Trial(name, trained.model_copy(update={"seed": seed}), shaped, params,
                                f"{TRAIN_STEP}_{name}", config))
    return trials


def trial_params(training: TrainingConfig, student: StudentConfig) -> dict:
    """Every sweepable value of a trial, as its results record them."""
    return {**{k: getattr(training, k) for k in SWEEP_KEYS if k != "num_layers"}, "num_layers": student.num_layers}


def with_trial_step_settings(steps: dict, trial_ids: list[str]) -> dict:
    """A run config's `steps:` with the `train_student` entry applied to every trial's training step.

    Users configure the training pool once, under `train_student`; a sweep's steps have per-trial ids, and
    ZenML matches step configuration by id. An entry written for a specific trial id wins.
    """
    steps = dict(steps or {})
    template = steps.pop(TRAIN_STEP, None) if trial_ids != [TRAIN_STEP] else steps.get(TRAIN_STEP)
    if template is not None:
        for step_id in trial_ids:
            steps.setdefault(step_id, template)
    return steps
