"""Born-Again chains: generation k learns from generation k-1, linked through the MLflow registry.

The chain's state lives only in the registry, as tags on the model versions
of `<registry.model_name>-<chain_id>`: `chain_id`, `generation`,
`teacher_version` (`original` for generation 1), `parent_run_id` (the ZenML
run of the generation it learned from) and `chain.improved`. So a chain can
be inspected from anywhere, and a crash loses at most the generation in
flight: `plan_next` reads what was registered and continues after it.

Teacher, improvement and the stop rule: generation k learns from the chain's
`champion` (generation 1: the original teacher). It improves when its
`metric` beats its teacher's by more than `min_improvement` (generation 1: the
original teacher's `teacher_<metric>`, when evaluation measured it; later: the
champion's registered score), and only then becomes the champion. A
generation that does not improve ends the chain (unless
`stop_on_no_improvement` is off), and so does reaching `generations`.

`run_chain` is the loop that runs generations one after another (the
`born-again` command); it is given the function that runs one generation, so
this module never imports the pipelines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pydantic import BaseModel, ConfigDict

from fastdistill.config import BornAgainConfig
from fastdistill.evaluation.scores import EvalMetrics
from fastdistill.registry.mlflow_registry import Registration
from fastdistill.registry.transaction import INCOMPLETE, STATE_TAG

ORIGINAL = "original"


def chain_model_name(model_name: str, chain: BornAgainConfig) -> str:
    return f"{model_name}-{chain.chain_id}"


@dataclass(frozen=True)
class Generation:
    generation: int
    version: str
    teacher: str  # the spec it learned from
    teacher_version: str
    improved: bool
    score: float | None
    zenml_run_id: str
    aliases: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


class Plan(BaseModel):
    """What the next run does: generation `generation` learns from `teacher` (a model spec).

    The `generation_plan` artifact of a Born-Again run.
    """

    model_config = ConfigDict(frozen=True)

    generation: int
    teacher: str
    teacher_version: str
    parent_run_id: str
    teacher_score: float | None

    def lineage(self, chain: BornAgainConfig) -> dict[str, str]:
        return {"chain_id": chain.chain_id, "generation": str(self.generation), "teacher_version": self.teacher_version,
                "parent_run_id": self.parent_run_id, "teacher": self.teacher}


@dataclass(frozen=True)
class Finished:
    reason: str


class GenerationRow(BaseModel):
    """One generation of the chain as the report shows it (the `born_again` artifact is a list of these)."""

    generation: int
    version: str
    teacher: str
    improved: bool
    metrics: dict[str, float]
    original_teacher: dict[str, float]  # the original teacher's own scores: the chain's reference line
    chain_metric: str


class ChainRegistration(Registration):
    """A generation's registration: the registry's answer plus whether it beat its teacher, and why."""

    generation: int
    improved: bool
    improvement: str


def read_chain(client: MlflowClient, model_name: str, chain: BornAgainConfig) -> list[Generation]:
    """The chain's registered generations, oldest first (one per generation: a re-run never registers twice)."""
    try:
        versions = client.search_model_versions(f"name='{model_name}'")
    except MlflowException:
        return []
    aliases: dict[str, list[str]] = {}
    try:
        for alias, version in client.get_registered_model(model_name).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
    except MlflowException:
        pass
    found = []
    for v in versions:
        if v.tags.get("chain_id") != chain.chain_id or "generation" not in v.tags:
            continue
        if v.tags.get(STATE_TAG) == INCOMPLETE:  # a crashed registration: not a generation, the next one repairs it
            continue
        score = v.tags.get(f"metric.{chain.metric}")
        found.append(Generation(int(v.tags["generation"]), str(v.version), v.tags.get("teacher", ""),
                                v.tags.get("teacher_version", ""), v.tags.get("chain.improved") == "true",
                                float(score) if score is not None else None, v.tags.get("zenml_run_id", ""),
                                sorted(aliases.get(str(v.version), [])), _metric_tags(v.tags)))
    return sorted(found, key=lambda g: g.generation)


def _metric_tags(tags: dict[str, str]) -> dict[str, float]:
    found = {}
    for key, value in tags.items():
        if key.startswith("metric."):
            try:
                found[key.removeprefix("metric.")] = float(value)
            except ValueError:
                continue
    return found


def report_rows(generations: list[Generation], chain: BornAgainConfig) -> list[GenerationRow]:
    """The chain for the HTML report: each generation's metrics, and the original teacher as a reference line.

    The original teacher's score on a metric is generation 1's `teacher_<metric>` (its teacher was the original).
    """
    first = generations[0].metrics if generations else {}
    reference = {m.removeprefix("teacher_"): v for m, v in first.items() if m.startswith("teacher_")}
    return [GenerationRow(generation=g.generation, version=g.version, teacher=g.teacher, improved=g.improved,
                          metrics=g.metrics, original_teacher=reference, chain_metric=chain.metric) for g in generations]


def plan_next(generations: list[Generation], chain: BornAgainConfig, model_name: str, original_teacher: str) -> Plan | Finished:
    if not generations:
        return Plan(generation=1, teacher=original_teacher, teacher_version=ORIGINAL, parent_run_id="",
                    teacher_score=None)
    last = generations[-1]
    if not last.improved and chain.stop_on_no_improvement:
        return Finished(f"generation {last.generation} (v{last.version}) did not improve {chain.metric} by more than "
                        f"{chain.min_improvement} over its teacher: the chain stops there")
    if last.generation >= chain.generations:
        return Finished(f"the chain reached its generation limit ({chain.generations})")
    teacher = next((g for g in reversed(generations) if "champion" in g.aliases), last)
    return Plan(generation=last.generation + 1, teacher=f"models:/{model_name}/{teacher.version}",
                teacher_version=teacher.version, parent_run_id=teacher.zenml_run_id, teacher_score=teacher.score)


def improvement(evaluation: EvalMetrics, plan: Plan, chain: BornAgainConfig, decision: str = "ci") -> tuple[bool, str]:
    """Whether this generation beat its teacher on the chain's metric (on the test split), and why.

    Where the evaluation scored the teacher on the same test prompts (`teacher_<metric>`: the teacher's answers
    against the references), the two are compared per prompt with a paired bootstrap, and with `decision: ci`
    the generation improved only when the lower bound of its 95% CI exceeds `min_improvement`. Otherwise the
    point values are compared (generation > 1: with the teacher's registered score).
    """
    scores, metric = evaluation.scores, chain.metric
    if not scores.measured(metric):
        raise ValueError(f"born_again.metric '{metric}' was not measured; available: {sorted(evaluation.values)}")
    sign = 1.0 if chain.greater_is_better else -1.0
    teacher_metric = f"teacher_{metric}"
    if metric in scores.per_example and teacher_metric in scores.per_example:
        student = scores.model_copy(update={"per_example": {metric: scores.per_example[metric]}, "weights": {}})
        teacher = scores.model_copy(update={"per_example": {metric: scores.per_example[teacher_metric]}, "weights": {}})
        diff = student.paired_difference(teacher, metric)
        bound = (min if sign > 0 else max)(diff.ci_low, diff.ci_high) if diff.has_ci and decision == "ci" else diff.value
        improved = sign * bound > chain.min_improvement
        basis = (f"the {'lower' if sign > 0 else 'upper'} bound of its paired 95% CI" if diff.has_ci and decision == "ci"
                 else "its difference")
        return improved, (f"{metric} minus its teacher's on the same {scores.split} prompts: {diff.text(4)}; {basis} "
                          f"{'exceeds' if improved else 'does not exceed'} min_improvement {chain.min_improvement} "
                          f"({'higher' if sign > 0 else 'lower'} is better)")
    score = scores.estimate(metric).value
    teacher_score = plan.teacher_score if plan.generation > 1 else None
    if teacher_score is None:
        return True, f"generation {plan.generation} has no teacher score for {metric} to beat"
    margin = sign * (score - teacher_score)
    improved = margin > chain.min_improvement
    return improved, (f"{metric} {score:.4f} vs its teacher's {teacher_score:.4f}: "
                      f"{'improved' if improved else 'no improvement'} (margin {margin:+.4f}, required > "
                      f"{chain.min_improvement}; point values: no per-prompt teacher score)")


def check_run_document(document: dict, source: str) -> None:
    """A chain's run YAML must let the plan and registration steps run every time."""
    if document.get("enable_cache") is True:
        raise ValueError(f"{source}: enable_cache: true would replay a previous generation's plan and registration "
                         "from ZenML's cache; remove it (every other step is cached by default)")


@dataclass(frozen=True)
class ChainProgress:
    """What one `run_chain` call did: the generations it ran, and why the chain is finished (None: not yet)."""

    ran: list[Plan]
    finished: Finished | None


def run_chain(read_generations: Callable[[], list[Generation]], run_generation: Callable[[Plan], object],
              chain: BornAgainConfig, model_name: str, original_teacher: str, limit: int | None = None) -> ChainProgress:
    """Run the chain's next generations one after another, at most `limit` of them (default: `chain.generations`).

    Before each generation the chain is read again from the registry (`read_generations`), so a generation
    registered by a crashed earlier attempt is never run twice, and the plan always follows the champion.
    `run_generation` runs one generation (a pipeline run that registers it); its result is not used here.
    """
    ran: list[Plan] = []
    for _ in range(limit or chain.generations):
        plan = plan_next(read_generations(), chain, model_name, original_teacher)
        if isinstance(plan, Finished):
            return ChainProgress(ran, plan)
        run_generation(plan)
        ran.append(plan)
    return ChainProgress(ran, None)
