"""Row filters and the Great Expectations 1.x gate in front of teacher inference.

`filter_rows` splits candidates into kept rows and a quarantine that records
every reason a row was rejected. `run_gate` then checks the kept rows with a
GX Core suite (ZenML's GX integration pins GX < 1.0, so GX is used directly)
plus aggregate expectations; a failed gate stops the run before any teacher
compute is spent.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

DEFAULT_REFUSALS = [r"\bas an ai\b", r"\bi cannot\b", r"\bi can't\b", r"\bi'm sorry\b", r"\bi am sorry\b",
                    r"\bas a language model\b"]
SOURCES = ["seed", "self_instruct", "evol_instruct", "user"]
SPLITS = ["train", "eval"]


class GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_prompt_chars: int = Field(8, ge=1, description="Row filter: shorter prompts are rejected.")
    max_prompt_chars: int = Field(1000, ge=1, description="Row filter: longer prompts are rejected.")
    refusal_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_REFUSALS),
                                        description="Case-insensitive regexes of refusal/boilerplate text.")
    min_rows: int = Field(20, ge=1, description="Aggregate: at least this many training rows must remain.")
    max_rejected_fraction: float = Field(0.9, ge=0.0, le=1.0, description="Aggregate: at most this share of candidates rejected.")

    @model_validator(mode="after")
    def _consistent(self) -> GateConfig:
        if self.min_prompt_chars >= self.max_prompt_chars:
            raise ValueError(f"min_prompt_chars ({self.min_prompt_chars}) must be below max_prompt_chars ({self.max_prompt_chars})")
        for pattern in self.refusal_patterns:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"refusal_patterns: '{pattern}' is not a valid regex ({err})") from None
        return self


@dataclass
class ExpectationOutcome:
    name: str
    success: bool
    observed: str


@dataclass
class GateReport:
    passed: bool
    results: list[ExpectationOutcome] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        failed = [r for r in self.results if not r.success]
        head = f"quality gate {'passed' if self.passed else 'FAILED'}: {self.counts.get('rows_kept', 0)} of {self.counts.get('rows_in', 0)} rows kept"
        return "\n".join([head] + [f"  - {r.name}: observed {r.observed}" for r in failed])


class GateFailed(RuntimeError):
    def __init__(self, report: GateReport):
        self.report = report
        super().__init__(report.summary())


def normalise(text: str) -> str:
    """Lowercase, drop punctuation, collapse whitespace: the key for exact-duplicate and leakage checks."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(text.split())


def _row_reasons(row, cfg: GateConfig, refusal: re.Pattern | None) -> list[str]:
    prompt = row.prompt if isinstance(row.prompt, str) else ""
    if not prompt.strip():
        return ["empty prompt"]
    reasons = []
    if len(prompt) < cfg.min_prompt_chars:
        reasons.append(f"too short: {len(prompt)} < {cfg.min_prompt_chars} chars")
    if len(prompt) > cfg.max_prompt_chars:
        reasons.append(f"too long: {len(prompt)} > {cfg.max_prompt_chars} chars")
    if refusal is not None and refusal.search(prompt):
        reasons.append("refusal/boilerplate pattern")
    return reasons


def filter_rows(candidates: pd.DataFrame, cfg: GateConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, quarantine); every rejected row keeps all of its reasons in `reasons`."""
    refusal = re.compile("|".join(f"(?:{p})" for p in cfg.refusal_patterns), re.I) if cfg.refusal_patterns else None
    keys = candidates["prompt"].map(lambda p: normalise(p) if isinstance(p, str) else "")
    eval_keys = set(keys[candidates["split"] == "eval"])
    seen: set[str] = set()
    all_reasons = []
    for row, key in zip(candidates.itertuples(), keys):
        reasons = _row_reasons(row, cfg, refusal)
        if key and key in seen:
            reasons.append("exact duplicate of an earlier row")
        if key and row.split == "train" and key in eval_keys:
            reasons.append("leakage: same prompt as an eval row")
        seen.add(key)
        all_reasons.append("; ".join(reasons))
    rejected = pd.Series(all_reasons, index=candidates.index) != ""
    quarantine = candidates[rejected].copy()
    quarantine["reasons"] = [r for r in all_reasons if r]
    return candidates[~rejected].copy(), quarantine


def _gx_suite(cfg: GateConfig):
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name="fastdistill_gate")
    for expectation in (
        gxe.ExpectColumnValuesToNotBeNull(column="prompt"),
        gxe.ExpectColumnValuesToBeOfType(column="prompt", type_="str"),
        gxe.ExpectColumnValueLengthsToBeBetween(column="prompt", min_value=cfg.min_prompt_chars, max_value=cfg.max_prompt_chars),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeUnique(column="prompt"),
        gxe.ExpectColumnValuesToBeInSet(column="split", value_set=SPLITS),
        gxe.ExpectColumnValuesToBeInSet(column="source", value_set=SOURCES),
    ):
        suite.add_expectation(expectation)
    if cfg.refusal_patterns:
        patterns = [f"(?i){p}" for p in cfg.refusal_patterns]
        suite.add_expectation(gxe.ExpectColumnValuesToNotMatchRegexList(column="prompt", regex_list=patterns))
    return suite


def _validate(frame: pd.DataFrame, cfg: GateConfig, name: str):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # A fresh ephemeral context per validation: nothing is written to disk. It must exist before the suite.
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = context.data_sources.add_pandas(name).add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    definition = gx.ValidationDefinition(name=name, data=batch, suite=context.suites.add(_gx_suite(cfg)))
    return definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")


def _observed(result) -> str:
    r = result.result or {}
    if r.get("observed_value") is not None:
        return str(r["observed_value"])
    examples = r.get("partial_unexpected_list") or []
    return f"{r.get('unexpected_count', 0)} unexpected, e.g. {examples[:3]}"


def run_gate(kept: pd.DataFrame, rows_in: int, cfg: GateConfig) -> GateReport:
    """The GX suite over the kept rows, plus the aggregate expectations on counts."""
    results = [ExpectationOutcome(r.expectation_config.type, bool(r.success), _observed(r))
               for r in _validate(kept, cfg, "candidates").results]
    train_rows = int((kept["split"] == "train").sum())
    rejected = rows_in - len(kept)
    fraction = rejected / rows_in if rows_in else 1.0
    results += [
        ExpectationOutcome(f"train rows >= min_rows ({cfg.min_rows})", train_rows >= cfg.min_rows, str(train_rows)),
        ExpectationOutcome(f"rejected fraction <= max_rejected_fraction ({cfg.max_rejected_fraction})",
                           fraction <= cfg.max_rejected_fraction, f"{fraction:.3f} ({rejected} of {rows_in})"),
        ExpectationOutcome("eval rows >= 1", int((kept["split"] == "eval").sum()) >= 1, str(int((kept["split"] == "eval").sum()))),
    ]
    counts = {"rows_in": rows_in, "rows_kept": len(kept), "rows_rejected": rejected, "train_rows": train_rows}
    return GateReport(all(r.success for r in results), results, counts)


def reason_counts(quarantine: pd.DataFrame) -> dict[str, int]:
    """Rows per rejection reason (the part before any ':' detail); a row with two reasons counts twice."""
    if quarantine.empty:
        return {}
    kinds = quarantine["reasons"].str.split("; ").explode().str.split(":").str[0]
    return {f"rejected/{k}": int(v) for k, v in kinds.value_counts().items()}
