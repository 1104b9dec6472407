"""Row filters and the Great Expectations 1.x gate in front of teacher inference.

`filter_rows` splits candidates into kept rows and a quarantine that records
every reason a row was rejected (row filters, duplicates and leaks, and
contamination: n-grams shared with the test split or `gate.decontaminate`).
`run_gate` then checks the kept rows with a GX Core suite (ZenML's GX
integration pins GX < 1.0, so GX is used directly) plus aggregate
expectations; a failed gate stops the run before any teacher compute is
spent.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from fastdistill.config import GateConfig
from fastdistill.data.formats import content_text
from fastdistill.data.splits import HELD_OUT, SPLITS, TRAIN
from fastdistill.gate.decontamination import contamination_reasons
from fastdistill.gate.dedup import DedupSettings, Duplicate, find_duplicates, normalise
from fastdistill.reporting.templating import render

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

SOURCES = ["seed", "self_instruct", "evol_instruct", "user"]
# What the gate needs in every candidate row; `fastdistill.data.seeds.with_candidate_defaults` fills the optional ones.
REQUIRED_COLUMNS = ["id", "category", "prompt", "reference", "source", "split", "operator", "prompt_tokens",
                    "needs_rationale", "rationale"]


def dedup_settings(cfg: GateConfig) -> DedupSettings:
    return DedupSettings(near_threshold=cfg.near_duplicate_threshold, semantic_threshold=cfg.semantic_duplicate_threshold,
                         num_perm=cfg.minhash_num_perm)


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
    reasons: dict[str, int] = field(default_factory=dict)
    validation: dict = field(default_factory=dict)  # GX's own ValidationResult as JSON

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    def summary(self) -> str:
        head = f"quality gate {'passed' if self.passed else 'FAILED'}: {self.counts.get('rows_kept', 0)} of {self.counts.get('rows_in', 0)} rows kept"
        return "\n".join([head] + [f"  - {r.name}: observed {r.observed}" for r in self.failed])

    @property
    def split_counts(self) -> dict[str, int]:
        """Rows per split after the gate: what each figure's sample size comes from."""
        return {s: self.counts.get(f"{s}_rows", 0) for s in SPLITS}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GateReport:
        results = [ExpectationOutcome(**r) for r in data.get("results", [])]
        return cls(data["passed"], results, data.get("counts", {}), data.get("reasons", {}), data.get("validation", {}))

    def html(self) -> str:
        """The report as an HTML page (templates/gate_report.html.j2): each expectation, then counts and rejections."""
        return render("gate_report.html.j2", headline=self.summary().splitlines()[0], results=self.results,
                      counts={**self.counts, **self.reasons})


class GateFailed(RuntimeError):
    def __init__(self, report: GateReport):
        self.report = report
        super().__init__(report.summary())


def _length_reasons(prompt: str, tokens, cfg: GateConfig) -> list[str]:
    reasons = []
    if len(prompt) < cfg.min_prompt_chars:
        reasons.append(f"too short: {len(prompt)} < {cfg.min_prompt_chars} chars")
    if len(prompt) > cfg.max_prompt_chars:
        reasons.append(f"too long: {len(prompt)} > {cfg.max_prompt_chars} chars")
    if tokens < cfg.min_prompt_tokens:
        reasons.append(f"too few tokens: {tokens} < {cfg.min_prompt_tokens}")
    if tokens > cfg.max_prompt_tokens:
        reasons.append(f"too many tokens: {tokens} > {cfg.max_prompt_tokens}")
    return reasons


def _row_reasons(row, cfg: GateConfig, refusal: re.Pattern | None) -> list[str]:
    prompt = row.prompt if isinstance(row.prompt, str) else ""
    if not prompt.strip():
        return ["empty prompt"]
    reasons = _length_reasons(prompt, int(row.prompt_tokens), cfg)
    if refusal is not None and refusal.search(prompt):
        reasons.append("refusal/boilerplate pattern")
    if bool(row.needs_rationale) and not (isinstance(row.rationale, str) and row.rationale.strip()):
        reasons.append("rationale missing: the task needs one")
    return reasons


def _duplicate_reason(dup: Duplicate, frame: pd.DataFrame) -> str:
    other = frame.iloc[dup.of]
    detail = {"exact": "exact", "near": f"near, Jaccard {dup.score:.2f}", "semantic": f"semantic, cosine {dup.score:.2f}"}[dup.kind]
    ours, theirs = frame.iloc[dup.index]["split"], other["split"]
    if theirs in HELD_OUT and ours != theirs:
        return f"leakage: {dup.kind} copy of {theirs} row {other['id']} ({detail})"
    return f"{dup.kind} duplicate: of row {other['id']} ({detail})"


def check_columns(candidates: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in candidates.columns]
    if missing:
        raise ValueError(f"candidates lack column(s) {missing}; expected {REQUIRED_COLUMNS} "
                         "(fastdistill.data.seeds.with_candidate_defaults and candidates.add_token_counts add them)")


def duplicate_reasons(candidates: pd.DataFrame, cfg: GateConfig,
                      embed: Callable[[list[str]], np.ndarray] | None = None) -> dict[int, str]:
    """Positional index -> reason for every exact, near or semantic duplicate (or a leak of a held-out row).

    Test rows go first, then validation rows, then train rows: the earlier copy a later row is compared to is the
    held-out row itself, so a train copy of a test or validation prompt is rejected as leakage (and so is a
    validation copy of a test prompt), never the held-out row."""
    rank = {split: i for i, split in enumerate(HELD_OUT)}
    order = sorted(range(len(candidates)), key=lambda i: (rank.get(candidates["split"].iloc[i], len(rank)), i))
    ordered = candidates.iloc[order].reset_index(drop=True)
    messages = ordered["messages"] if "messages" in ordered else [None] * len(ordered)
    texts = [content_text(p, m) for p, m in zip(ordered["prompt"], messages)]
    found = find_duplicates(texts, dedup_settings(cfg), embed)
    return {order[i]: _duplicate_reason(d, ordered) for i, d in found.items() if texts[i].strip()}


def filter_rows(candidates: pd.DataFrame, cfg: GateConfig,
                embed: Callable[[list[str]], np.ndarray] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, quarantine); every rejected row keeps all of its reasons in `reasons`, joined by '; '."""
    check_columns(candidates)
    refusal = re.compile("|".join(f"(?:{p})" for p in cfg.refusal_patterns), re.I) if cfg.refusal_patterns else None
    duplicates = duplicate_reasons(candidates, cfg, embed)
    contaminated = contamination_reasons(candidates, cfg.decontaminate, cfg.decontamination_ngram,
                                         cfg.decontamination_max_rows)
    all_reasons = []
    for position, row in enumerate(candidates.itertuples()):
        reasons = _row_reasons(row, cfg, refusal)
        reasons += [found[position] for found in (duplicates, contaminated) if position in found]
        all_reasons.append("; ".join(reasons))
    rejected = np.array([bool(r) for r in all_reasons], dtype=bool)
    quarantine = candidates[rejected].copy()
    quarantine["reasons"] = [r for r in all_reasons if r]
    quarantine["stage"] = "gate"
    return candidates[~rejected].copy(), quarantine


def _expectations(cfg: GateConfig, held_out_keys: list[str]) -> list:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    train = Column("split") == TRAIN
    found = [
        gxe.ExpectTableColumnsToMatchSet(column_set=REQUIRED_COLUMNS + ["prompt_key"], exact_match=False),
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("id", "category", "prompt", "source", "split", "prompt_tokens")),
        gxe.ExpectColumnValuesToBeOfType(column="prompt", type_="str"),
        gxe.ExpectColumnValuesToBeInTypeList(column="prompt_tokens", type_list=["int", "int64", "int32", "Int64"]),
        gxe.ExpectColumnValuesToMatchRegex(column="prompt", regex=r"\S"),
        gxe.ExpectColumnValueLengthsToBeBetween(column="prompt", min_value=cfg.min_prompt_chars, max_value=cfg.max_prompt_chars),
        gxe.ExpectColumnValuesToBeBetween(column="prompt_tokens", min_value=cfg.min_prompt_tokens, max_value=cfg.max_prompt_tokens),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeUnique(column="prompt_key"),
        gxe.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
        gxe.ExpectColumnValuesToBeInSet(column="source", value_set=SOURCES),
        gxe.ExpectColumnValuesToNotBeInSet(column="prompt_key", value_set=held_out_keys or ["\x00"], row_condition=train),
        gxe.ExpectColumnValuesToNotBeNull(column="rationale", row_condition=Column("needs_rationale") == True),  # noqa: E712
    ]
    if cfg.refusal_patterns:
        found.append(gxe.ExpectColumnValuesToNotMatchRegexList(column="prompt", regex_list=[f"(?i){p}" for p in cfg.refusal_patterns]))
    return found


def _validate(frame: pd.DataFrame, cfg: GateConfig, name: str):
    # GX logs its own import-time registry and context set-up at INFO, dozens of lines that bury the gate's result.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # A fresh ephemeral context per validation: nothing is written to disk. It must exist before the suite.
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = context.data_sources.add_pandas(name).add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    suite = gx.ExpectationSuite(name="fastdistill_gate")
    held_out_keys = sorted(set(frame.loc[frame["split"].isin(HELD_OUT), "prompt_key"]))
    for expectation in _expectations(cfg, held_out_keys):
        suite.add_expectation(expectation)
    definition = gx.ValidationDefinition(name=name, data=batch, suite=context.suites.add(suite))
    return definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")


def _name(result) -> str:
    config = result.expectation_config
    column = config.kwargs.get("column")
    condition = " where split == train" if column == "prompt_key" and "value_set" in config.kwargs else ""
    condition = " where needs_rationale" if column == "rationale" else condition
    return f"{config.type}({column}){condition}" if column else config.type


def _observed(result) -> str:
    r = result.result or {}
    if r.get("observed_value") is not None:
        return str(r["observed_value"])
    examples = r.get("partial_unexpected_list") or []
    return f"{r.get('unexpected_count', 0)} unexpected, e.g. {examples[:3]}"


def _validation_frame(kept: pd.DataFrame) -> pd.DataFrame:
    frame = kept.reset_index(drop=True).copy()
    if "prompt" in frame:
        frame["prompt_key"] = [normalise(p) if isinstance(p, str) else None for p in frame["prompt"]]
    return frame


def _aggregates(kept: pd.DataFrame, rows_in: int, cfg: GateConfig) -> list[ExpectationOutcome]:
    split = kept["split"] if "split" in kept else pd.Series(dtype=str)
    train_rows = int((split == TRAIN).sum())
    held_out = {s: int((split == s).sum()) for s in HELD_OUT}
    rejected = rows_in - len(kept)
    fraction = rejected / rows_in if rows_in else 1.0
    return [
        ExpectationOutcome(f"train rows >= min_rows ({cfg.min_rows})", train_rows >= cfg.min_rows, str(train_rows)),
        ExpectationOutcome(f"rejected fraction <= max_rejected_fraction ({cfg.max_rejected_fraction})",
                           fraction <= cfg.max_rejected_fraction, f"{fraction:.3f} ({rejected} of {rows_in})"),
        *(ExpectationOutcome(f"{s} rows >= 1", n >= 1, str(n)) for s, n in held_out.items()),
    ]


def run_gate(kept: pd.DataFrame, rows_in: int, cfg: GateConfig, reasons: dict[str, int] | None = None) -> GateReport:
    """The GX suite over the kept rows, plus the aggregate expectations on counts."""
    validation = _validate(_validation_frame(kept), cfg, "candidates")
    results = [ExpectationOutcome(_name(r), bool(r.success), _observed(r)) for r in validation.results]
    results += _aggregates(kept, rows_in, cfg)
    per_split = {s: int((kept["split"] == s).sum()) if "split" in kept else 0 for s in SPLITS}
    counts = {"rows_in": rows_in, "rows_kept": len(kept), "rows_rejected": rows_in - len(kept),
              **{f"{s}_rows": n for s, n in per_split.items()}}
    return GateReport(all(r.success for r in results), results, counts, reasons or {}, validation.to_json_dict())


def reason_kind(reason: str) -> str:
    """The reason's kind: the part before any ':' detail ('too short: 5 < 8 chars' -> 'too short')."""
    return reason.split(":", 1)[0].strip()


def reason_counts(quarantine: pd.DataFrame) -> dict[str, int]:
    """Rows per rejection reason kind; a row with two reasons counts once for each."""
    if quarantine.empty:
        return {}
    kinds = quarantine["reasons"].str.split("; ").explode().map(reason_kind)
    return {f"rejected/{k}": int(v) for k, v in kinds.value_counts().sort_index().items()}
