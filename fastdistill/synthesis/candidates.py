"""The candidate dataset: seeds -> Self-Instruct -> Evol-Instruct -> rationales, driven by any teacher backend.

Every row that enters (a seed) or is produced (a parsed instruction, an
evolution) ends in exactly one of `candidates` or `quarantine`, the latter
with its reason; `SynthesisResult.check_accounting` proves it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pandas as pd

from fastdistill.config import SynthesisConfig
from fastdistill.data.seeds import with_candidate_defaults
from fastdistill.synthesis import evol_instruct as evol
from fastdistill.synthesis import rationales
from fastdistill.synthesis import self_instruct as synthesis


@dataclass
class SynthesisResult:
    candidates: pd.DataFrame
    quarantine: pd.DataFrame
    stats: dict[str, int] = field(default_factory=dict)

    def check_accounting(self, seeds: int) -> None:
        produced = seeds + self.stats.get("instructions_parsed", 0) + self.stats.get("evolutions", 0)
        accounted = len(self.candidates) + len(self.quarantine) - self.stats.get("unparsed_responses", 0)
        if produced != accounted:
            raise AssertionError(f"synthesis lost rows: {produced} produced, {accounted} in candidates + quarantine")


def _generate(backend, prompts: list[str], *, max_new_tokens: int, batch_size: int, temperature: float, top_p: float,
              seed: int, desc: str) -> tuple[list[str], list[bool]]:
    """Texts and whether each reply finished before the token budget (otherwise it may be cut off)."""
    if not prompts:
        return [], []
    gens = backend.generate(prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, temperature=temperature,
                            top_p=top_p, seed=seed, desc=desc)
    return [g.text for g in gens], [not g.truncated if g.truncated is not None else len(g.response_ids) < max_new_tokens
                                    for g in gens]


def self_instruct(backend, seed_prompts: list[str], config: SynthesisConfig, batch_size: int):
    """(new rows, quarantine, parsed count, unparsed responses) over `config.rounds` rounds."""
    pool, generated = list(seed_prompts), []
    rows, rejects, parsed, unparsed = [], [], 0, 0
    for r, count in enumerate(synthesis.requests_per_round(config)):
        requests = synthesis.build_requests(seed_prompts, config, generated, count, r)
        texts, finished = _generate(backend, requests, max_new_tokens=config.max_new_tokens, batch_size=batch_size,
                                    temperature=config.temperature, top_p=config.top_p, seed=config.seed + r,
                                    desc=f"self-instruct round {r + 1}/{config.rounds}")
        new, rejected = synthesis.collect(texts, pool, config, finished, prefix=f"self_instruct-r{r}")
        unparsed += int((rejected["reasons"] == "no numbered instruction could be parsed").sum())
        parsed += len(new) + len(rejected)
        generated += new["prompt"].tolist()
        rows.append(new)
        rejects.append(rejected)
    frame = pd.concat(rows, ignore_index=True) if rows else synthesis.synthetic_rows([], "self_instruct", "self_instruct")
    return frame, _concat(rejects), parsed - unparsed, unparsed


def evolve(backend, parents: pd.DataFrame, config: SynthesisConfig, batch_size: int):
    """(evolved rows, quarantine): `config.evol_prompts` parents, operators taken in turn."""
    if config.evol_prompts == 0 or parents.empty:
        return synthesis.synthetic_rows([], "evol_instruct", "evol"), synthesis.empty_quarantine()
    rng = random.Random(config.seed + 7919)
    chosen = parents.iloc[sorted(rng.sample(range(len(parents)), min(config.evol_prompts, len(parents))))]
    operators = [config.evol_operators[i % len(config.evol_operators)] for i in range(len(chosen))]
    requests = [evol.evolution_prompt(p, op) for p, op in zip(chosen["prompt"], operators)]
    texts, _ = _generate(backend, requests, max_new_tokens=config.evol_max_new_tokens, batch_size=batch_size,
                         temperature=config.temperature, top_p=config.top_p, seed=config.seed + 101, desc="evol-instruct")
    kept, rejected = [], []
    for i, (parent, op, reply) in enumerate(zip(chosen.itertuples(), operators, texts)):
        evolved, reason = evol.judge(parent.prompt, reply, op)
        row = {"id": f"evol-{i:03d}-{op}", "prompt": evolved or reply, "operator": f"evol:{op}", "parent_id": parent.id,
               "category": parent.category}
        if reason is None:
            kept.append(row)
        else:
            rejected.append({**row, "reasons": reason, "source": "evol_instruct", "stage": "synthesis"})
    quarantine = pd.DataFrame(rejected, columns=[*synthesis.QUARANTINE_COLUMNS, "parent_id", "category"])
    return synthesis.synthetic_rows(kept, "evol_instruct", "evol"), quarantine


def add_rationales(backend, candidates: pd.DataFrame, config: SynthesisConfig, batch_size: int):
    """(candidates with rationale/answer/agreement, rejected rows): train rows of `rationale_categories` only."""
    needs = (candidates["split"] == "train") & candidates["category"].isin(config.rationale_categories)
    out = candidates.copy()
    out["needs_rationale"] = needs
    targets = out[needs]
    if targets.empty:
        return out, synthesis.empty_quarantine()
    n = config.rationale_samples
    prompts = [rationales.with_instruction(p) for p in targets["prompt"] for _ in range(n)]
    texts, _ = _generate(backend, prompts, max_new_tokens=config.rationale_max_new_tokens, batch_size=batch_size,
                         temperature=config.rationale_temperature if n > 1 else 0.0, top_p=config.top_p,
                         seed=config.seed + 202, desc=f"rationales x{n}")
    problems = {}
    for j, index in enumerate(targets.index):
        vote = rationales.majority(texts[j * n : (j + 1) * n], config.min_agreement)
        out.loc[index, ["rationale", "answer", "agreement"]] = [vote.rationale, vote.answer, vote.agreement]
        if vote.problem:
            problems[index] = vote.problem
    rejected = out.loc[list(problems)].assign(reasons=list(problems.values()), stage="synthesis")
    return out.drop(index=list(problems)), rejected


def add_token_counts(frame: pd.DataFrame, tokenizer) -> pd.DataFrame:
    """`prompt_tokens`: the prompt's length in teacher tokens (no chat template), for the gate's length bounds."""
    out = frame.copy()
    prompts = [p if isinstance(p, str) else "" for p in out["prompt"]]
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"] if prompts else []
    out["prompt_tokens"] = pd.Series([len(x) for x in ids], index=out.index, dtype="int64")
    return out


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else synthesis.empty_quarantine()


def build_candidates(seeds: pd.DataFrame, backend, config: SynthesisConfig, batch_size: int) -> SynthesisResult:
    """All generators in order; seeds stay first so they win every duplicate check against generated rows."""
    seeds = with_candidate_defaults(seeds)
    train_prompts = seeds.loc[seeds["split"] == "train", "prompt"].tolist()
    si_rows, si_rejects, parsed, unparsed = self_instruct(backend, train_prompts, config, batch_size)
    parents = pd.concat([seeds[seeds["split"] == "train"], si_rows], ignore_index=True)
    evo_rows, evo_rejects = evolve(backend, parents, config, batch_size)
    candidates = pd.concat([seeds, si_rows, evo_rows], ignore_index=True)
    candidates, rationale_rejects = add_rationales(backend, candidates, config, batch_size)
    stats = {"self_instruct_requests": config.num_requests, "instructions_parsed": parsed, "unparsed_responses": unparsed,
             "self_instruct_kept": len(si_rows), "evolutions": min(config.evol_prompts, len(parents)),
             "evol_kept": len(evo_rows), "rationale_rows": int(candidates["needs_rationale"].sum()) + len(rationale_rejects),
             "rationale_rejected": len(rationale_rejects)}
    quarantine = _concat([si_rejects, evo_rejects, rationale_rejects])
    result = SynthesisResult(candidates.reset_index(drop=True), quarantine, stats)
    result.check_accounting(len(seeds))
    return result
