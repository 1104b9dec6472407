"""`Scores`: one model's metrics on one split, kept per example so every figure carries n and a CI.

A per-example metric (see the catalog) is stored as one value per example,
aligned with `ids` (None where it is undefined, e.g. ROUGE-L against a
reference the row does not have), with optional per-example weights (token
counts, for per-token rates). Aggregates (corpus statistics, counts,
timings) are single numbers. Everything shown to a user derives from here:
`values()` for MLflow's metrics, `estimate(name)` for "0.29 [0.21, 0.36]
n=60", `paired_difference(other, name)` for two models on the same prompts.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, Field

from fastdistill.evaluation.health import HealthWarning
from fastdistill.evaluation.statistics import (
    Estimate,
    bootstrap_mean,
    paired_difference,
)


class Scores(BaseModel):
    split: str
    ids: list[str]
    per_example: dict[str, list[float | None]] = Field(default_factory=dict)
    weights: dict[str, list[float]] = Field(default_factory=dict)
    aggregates: dict[str, float] = Field(default_factory=dict)
    seed: int = 0

    def _aligned(self, name: str) -> tuple[list[float], list[float] | None]:
        values = [float("nan") if v is None else float(v) for v in self.per_example[name]]
        if len(values) != len(self.ids):
            raise ValueError(f"metric {name}: {len(values)} values for {len(self.ids)} examples")
        return values, self.weights.get(name)

    def measured(self, name: str) -> bool:
        if name in self.aggregates:
            return True
        return name in self.per_example and any(v is not None for v in self.per_example[name])

    def estimate(self, name: str) -> Estimate:
        """Mean, n and bootstrap CI of a per-example metric (an aggregate: its value, n = examples, no CI)."""
        if name in self.aggregates:
            return Estimate(value=self.aggregates[name], n=len(self.ids))
        if not self.measured(name):
            raise KeyError(f"metric '{name}' was not measured on the {self.split} split")
        values, weights = self._aligned(name)
        return bootstrap_mean(values, weights, seed=self.seed)

    def estimates(self) -> dict[str, Estimate]:
        return {name: self.estimate(name) for name in sorted({*self.per_example, *self.aggregates}) if self.measured(name)}

    def values(self) -> dict[str, float]:
        """Every measured metric's point value (what MLflow's metrics and the registry's tags hold)."""
        return {name: e.value for name, e in self.estimates().items()}

    def mlflow_metrics(self) -> dict[str, float]:
        """`<split>/<metric>` with `_ci_low`, `_ci_high` and `_n` beside each per-example metric: the split and the
        sample size travel with every number logged."""
        flat: dict[str, float] = {}
        for name, e in self.estimates().items():
            flat[f"{self.split}/{name}"] = e.value
            if name in self.per_example:
                flat[f"{self.split}/{name}_n"] = float(e.n)
                if e.has_ci:
                    flat[f"{self.split}/{name}_ci_low"], flat[f"{self.split}/{name}_ci_high"] = e.ci_low, e.ci_high
        return flat

    def paired_difference(self, other: Scores, name: str) -> Estimate:
        """Mean of (self - other) on `name` over the examples both scored; the id sets must be equal."""
        if set(self.ids) != set(other.ids):
            raise ValueError(f"paired comparison on {name} needs the same {self.split} examples: "
                             f"{len(set(self.ids) ^ set(other.ids))} ids differ")
        ours, weights = self._aligned(name)
        index = {i: k for k, i in enumerate(other.ids)}
        theirs, _ = other._aligned(name)
        return paired_difference(ours, [theirs[index[i]] for i in self.ids], weights, seed=self.seed)

    def ids_sha256(self) -> str:
        """Names the example set: equal for two models scored on the same prompts."""
        return hashlib.sha256(json.dumps(sorted(self.ids)).encode()).hexdigest()


class EvalMetrics(BaseModel):
    """A model's metrics on one split: the `eval_metrics` artifact (and `original_teacher_metrics`).

    `scores` keeps every per-example value (so each figure has n and a CI); `warnings` are the health checks
    that fired; `test_set_sha256` names the examples' content, so the registry compares like with like.
    """

    scores: Scores
    warnings: list[HealthWarning] = Field(default_factory=list)
    test_set_sha256: str = ""  # the examples' content (`fastdistill.data.splits.content_sha256`)
    teacher: str = ""  # the spec of the teacher it was compared with
    teacher_sha256: str = ""  # that teacher's weights (`fastdistill.models.directory.weights_sha256`), when local

    @property
    def values(self) -> dict[str, float]:
        return self.scores.values()

    @property
    def split(self) -> str:
        return self.scores.split
