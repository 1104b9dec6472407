"""Every training objective, one record each: the single place an objective is defined.

A record says what the objective trains on (`trainer`), which `training:`
knobs it reads, its KD loss on the teacher's top-k store (the name of a
function in `fastdistill.training.losses`), and whether it needs the
teacher's rationales. Everything else derives from these records: the
config's list of objectives, the sweep's keys and which knobs it collapses
for an objective that ignores them, the trainer each objective gets and the
knobs its loss receives (including inside the fused lm_head loss).

Adding an objective is one record here plus its loss function (with tests);
`docs/extending.md` walks through `tvd`.

This module is pure Python on purpose: config validation imports it, and must
not pay for torch. Loss functions are looked up when training asks for them.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

Trainer = Literal["cross_entropy", "topk_kd", "on_policy"]
"""cross_entropy: CE on the teacher's text, per task (no soft targets); topk_kd: CE mixed with a KD loss on the
persisted top-k store (the teacher never runs again); on_policy: the student samples, the teacher scores online."""

KNOBS: dict[str, str] = {
    "temperature": "softening temperature T of the KD term (gradients scaled by T^2)",
    "beta": "weight of the teacher in the generalized JSD mixture (0: forward KL, 1: reverse KL)",
    "alpha": "DistiLLM's skew of the target towards the teacher",
    "lmbda": "share of batches trained on the student's own samples",
    "ce_weight": "loss = ce_weight * CE + (1 - ce_weight) * KD",
    "rationale_weight": "loss = CE(answer) + rationale_weight * CE(rationale)",
    "on_policy_max_new_tokens": "length of the student's on-policy samples",
}
"""Objective-specific `training:` fields, in the order the sweep expands and names them."""


@dataclass(frozen=True)
class Objective:
    name: str
    summary: str
    trainer: Trainer
    knobs: tuple[str, ...] = ()
    kd_loss: str | None = None  # a function of fastdistill.training.losses: (logits, topk_ids, topk_logprobs, **knobs)
    needs_rationales: bool = False

    @property
    def offline(self) -> bool:
        """Trains from the persisted teacher outputs only: the teacher never runs again."""
        return self.trainer != "on_policy"

    def reads(self, knob: str) -> bool:
        return knob in self.knobs

    @cached_property
    def loss_function(self) -> Callable:
        if self.kd_loss is None:
            raise ValueError(f"objective '{self.name}' has no KD loss on the top-k store (it trains with {self.trainer})")
        return getattr(importlib.import_module("fastdistill.training.losses"), self.kd_loss)

    @cached_property
    def loss_knobs(self) -> tuple[str, ...]:
        """The knobs its loss function takes as keyword arguments (the others, like ce_weight, shape the mix)."""
        accepted = inspect.signature(self.loss_function).parameters
        return tuple(k for k in self.knobs if k in accepted)

    def kd(self, student_logits, topk_ids, topk_logprobs, **knobs):
        """The KD loss on the teacher's top-k, given any knobs; those the objective does not read are ignored."""
        return self.loss_function(student_logits, topk_ids, topk_logprobs, **{k: knobs[k] for k in self.loss_knobs if k in knobs})


_KD = ("temperature", "ce_weight")

OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("sft", "cross-entropy on the teacher's text (sequence-level KD)", "cross_entropy"),
    Objective("fkl", "forward KL to the stored top-k soft targets (Hinton), T^2 scaled", "topk_kd", _KD, "forward_kl_topk"),
    Objective("rkl", "token-level reverse KL (MiniLLM's objective, single-step form)", "topk_kd", _KD, "reverse_kl_topk"),
    Objective("jsd", "generalized JSD, TRL's convention (beta 0: forward KL, 1: reverse KL)", "topk_kd",
              ("beta", *_KD), "generalized_jsd_topk"),
    Objective("skl", "DistiLLM's skew KL", "topk_kd", ("alpha", *_KD), "skew_kl_topk"),
    Objective("srkl", "DistiLLM's skew reverse KL", "topk_kd", ("alpha", *_KD), "skew_reverse_kl_topk"),
    Objective("step_by_step", "Distilling Step-by-Step: answer task + rationale task", "cross_entropy",
              ("rationale_weight",), needs_rationales=True),
    Objective("gkd", "on-policy GKD: a share lmbda of batches are the student's own samples, scored by the teacher "
              "online (TRL's GKDTrainer)", "on_policy", ("lmbda", "beta", *_KD, "on_policy_max_new_tokens")),
    Objective("tvd", "total variation distance to the stored top-k soft targets (DistillKit's tvd)", "topk_kd", _KD,
              "total_variation_topk"),
)}

for _objective in OBJECTIVES.values():  # a typo in a record fails at import, not in a trial
    assert set(_objective.knobs) <= set(KNOBS), f"{_objective.name}: unknown knob in {_objective.knobs}"


def get(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise ValueError(f"objective '{name}' is not one of {list(OBJECTIVES)}")
    return OBJECTIVES[name]


def kd_objectives() -> list[Objective]:
    """Objectives trained with a KD loss on the top-k store."""
    return [o for o in OBJECTIVES.values() if o.trainer == "topk_kd"]


def describe() -> str:
    """One line per objective, for `--help` and the config's field description."""
    return "; ".join(f"{o.name}: {o.summary}" for o in OBJECTIVES.values())
