"""The student's model card: a Hugging Face `README.md` (YAML front matter, then Markdown) built from what the
registry records.

One card, two places: the MLflow model logged at registration carries it (from the registration's tags and
evaluation), and `run.py export` writes it beside the exported weights (from the registered version's tags, its
stored evaluation and its aliases). The front matter is `huggingface_hub.ModelCardData` (base_model, library_name,
tags, the metrics as a `model-index`, FastDistill's hashes and lineage under `fastdistill:`); the body is the
Jinja2 template `fastdistill/reporting/templates/model_card.md.j2`.
"""

from __future__ import annotations

import importlib.metadata
import re

from pydantic import BaseModel, Field

from fastdistill.evaluation.catalog import GROUPS, group_of
from fastdistill.evaluation.scores import EvalMetrics
from fastdistill.models.packaged import HUB_ORIGIN
from fastdistill.models.sources import ModelSpecError, spec_kind
from fastdistill.training.objectives import OBJECTIVES

_CI_TAG = re.compile(r"(?P<value>\S+) \[(?P<low>\S+), (?P<high>\S+)\] n=(?P<n>\d+)")
LINEAGE_KEYS = ("chain_id", "generation", "teacher_version", "parent_run_id", "chain.improved", "chain.reason")
TEMPLATE = "model_card.md.j2"


class CardMetric(BaseModel):
    """One figure of the evaluation: a per-example mean with its 95% CI and n, or an aggregate (no interval)."""

    name: str
    group: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None


class CardFacts(BaseModel):
    """Everything the card states, each field from the registry (tags, stored evaluation, aliases)."""

    name: str = ""
    version: str | None = None
    aliases: list[str] = Field(default_factory=list)
    source: str = ""  # the URI it was exported from, or "" at registration
    teacher: str = ""
    teacher_sha256: str = ""
    objective: str = ""
    data_sha256: str = ""
    test_set_sha256: str = ""
    config_sha256: str = ""
    split: str = ""
    examples: int | None = None
    metrics: list[CardMetric] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    decision: str = ""
    decision_reason: str = ""
    lineage: dict[str, str] = Field(default_factory=dict)
    mlflow_run_id: str = ""
    zenml_run_name: str = ""
    zenml_run_id: str = ""
    chat_template: bool = True

    @property
    def base_model(self) -> str | None:
        """The teacher as a Hugging Face hub id, when it has one (the packaged teacher is a GGUF of one)."""
        try:
            kind = spec_kind(self.teacher)
        except ModelSpecError:
            return None
        if kind == "packaged":
            return HUB_ORIGIN.get(self.teacher.removeprefix("packaged:"))
        return self.teacher if kind == "hub" else None


def facts_from_tags(tags: dict[str, str], evaluation: EvalMetrics | None = None, **fields) -> CardFacts:
    """The card's facts from a version's (or a registration's) tags; the stored evaluation, when there is one,
    gives every metric's interval and the health warnings' full text. `fields` (name, version, aliases, source,
    mlflow_run_id, chat_template) are what the tags cannot say."""
    examples = tags.get("test_examples")
    return CardFacts(
        teacher=tags.get("teacher", ""), teacher_sha256=tags.get("teacher_sha256", ""),
        objective=tags.get("objective", ""), data_sha256=tags.get("data_sha256", ""),
        test_set_sha256=tags.get("test_set_sha256", ""), config_sha256=tags.get("config_sha256", ""),
        split=tags.get("eval_split", ""), examples=int(examples) if examples and examples.isdigit() else None,
        metrics=_metrics(tags, evaluation), warnings=_warnings(tags, evaluation),
        decision=tags.get("promotion.decision", ""), decision_reason=tags.get("promotion.reason", ""),
        lineage={key: tags[key] for key in LINEAGE_KEYS if tags.get(key)},
        zenml_run_name=tags.get("zenml_run_name", ""), zenml_run_id=tags.get("zenml_run_id", ""),
        **fields,
    )


def _metrics(tags: dict[str, str], evaluation: EvalMetrics | None) -> list[CardMetric]:
    if evaluation is not None:
        found = [CardMetric(name=name, group=group_of(name), value=e.value, ci_low=e.ci_low, ci_high=e.ci_high,
                            n=e.n or None) for name, e in evaluation.scores.estimates().items()]
    else:
        found = [_metric_from_tags(key.removeprefix("metric."), value, tags) for key, value in tags.items()
                 if key.startswith("metric.") and "." not in key.removeprefix("metric.")]  # not original_teacher.*
    order = {group: i for i, group in enumerate((*GROUPS, "other"))}
    return sorted(found, key=lambda m: (order.get(m.group, len(order)), m.name))


def _metric_from_tags(name: str, value: str, tags: dict[str, str]) -> CardMetric:
    """`metric.<name>` is the point value; `ci.<name>` ("0.29 [0.21, 0.36] n=60") its interval, when it has one."""
    match = _CI_TAG.fullmatch(tags.get(f"ci.{name}", ""))
    if match is None:
        return CardMetric(name=name, group=group_of(name), value=float(value))
    return CardMetric(name=name, group=group_of(name), value=float(value), ci_low=float(match["low"]),
                      ci_high=float(match["high"]), n=int(match["n"]))


def _warnings(tags: dict[str, str], evaluation: EvalMetrics | None) -> list[str]:
    if evaluation is not None:
        return [f"{w.code}: {w.message}" for w in evaluation.warnings]
    codes = tags.get("warnings", "none")
    return [] if codes in ("", "none") else [code.strip() for code in codes.split(";")]


def render(facts: CardFacts) -> str:
    """The model card's text: YAML front matter, then the Markdown body."""
    from huggingface_hub import EvalResult, ModelCardData

    from fastdistill.reporting.templating import render_text

    model_name = facts.name or "fastdistill-student"
    dataset = f"FastDistill {facts.split or 'test'} split (sha256 {facts.test_set_sha256[:12] or 'unrecorded'})"
    results = [EvalResult(task_type="text-generation", dataset_type="fastdistill-test-split", dataset_name=dataset,
                          dataset_split=facts.split or None, metric_type=m.name, metric_value=m.value,
                          metric_name=_metric_label(m)) for m in facts.metrics]
    ours = {"teacher": facts.teacher or None, "teacher_sha256": facts.teacher_sha256 or None,
            "objective": facts.objective or None, "data_sha256": facts.data_sha256 or None,
            "test_set_sha256": facts.test_set_sha256 or None, "config_sha256": facts.config_sha256 or None,
            "registered_model": facts.name or None, "version": facts.version, "aliases": facts.aliases or None,
            "mlflow_run_id": facts.mlflow_run_id or None, "zenml_run": facts.zenml_run_name or None,
            **{f"lineage.{k}": v for k, v in facts.lineage.items()}}
    card_data = ModelCardData(
        base_model=facts.base_model, library_name="transformers", pipeline_tag="text-generation",
        tags=["fastdistill", "distillation", "knowledge-distillation", *([facts.objective] if facts.objective else [])],
        model_name=model_name if results else None, eval_results=results or None,
        fastdistill={k: v for k, v in ours.items() if v is not None},
    )
    objective = OBJECTIVES.get(facts.objective)
    return render_text(TEMPLATE, card_data=card_data.to_yaml(), facts=facts, model_name=model_name,
                       objective_summary=objective.summary if objective else "",
                       fastdistill_version=_version(), with_ci=any(m.ci_low is not None for m in facts.metrics))


def _metric_label(metric: CardMetric) -> str:
    if metric.ci_low is None:
        return metric.name
    return f"{metric.name} (95% CI {metric.ci_low:.4g} to {metric.ci_high:.4g}, n={metric.n})"


def _version() -> str:
    try:
        return importlib.metadata.version("fastdistill")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
