"""Self-Instruct synthesis: the teacher writes new tasks from few-shot examples.

Each request shows the teacher a few tasks sampled from the train seeds and
asks for more in a numbered list. Parsed instructions pass the paper's
novelty filter (ROUGE-L against everything kept so far below a threshold)
before they join the pool. Rejections are returned with their reason, never
dropped silently.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import pandas as pd
from rouge_score import rouge_scorer

from fastdistill.config import SynthesisConfig
from fastdistill.data import CANDIDATE_COLUMNS

QUARANTINE_COLUMNS = ["id", "prompt", "reasons", "source"]
_NUMBERED = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+(.*\S)\s*$")
_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def few_shot_prompt(examples: list[str], start: int) -> str:
    listed = "\n".join(f"{i}. {text}" for i, text in enumerate(examples, start=1))
    return (
        "Here is a numbered list of tasks a user might give an assistant:\n"
        f"{listed}\n"
        f"Continue the list with new, different tasks. Write one task per line, starting at {start}."
    )


def parse_numbered(text: str) -> list[str]:
    """Instructions from a numbered or bulleted list; other lines are ignored."""
    items = []
    for line in text.splitlines():
        match = _NUMBERED.match(line)
        if match:
            items.append(match.group(1).strip())
    return items


@dataclass
class NoveltyFilter:
    """Keeps an instruction only if its ROUGE-L to every pooled one is below `threshold`."""

    threshold: float
    pool: list[str]

    def closest(self, text: str) -> tuple[float, str]:
        best = (0.0, "")
        for other in self.pool:
            score = _SCORER.score(other, text)["rougeL"].fmeasure
            if score > best[0]:
                best = (score, other)
        return best

    def admit(self, text: str) -> str | None:
        """None if admitted (and pooled); otherwise the rejection reason."""
        score, other = self.closest(text)
        if score >= self.threshold:
            return f"not novel: ROUGE-L {score:.2f} >= {self.threshold} to '{other[:60]}'"
        self.pool.append(text)
        return None


def build_requests(train_prompts: list[str], config: SynthesisConfig) -> list[str]:
    rng = random.Random(config.seed)
    k = min(config.examples_per_request, len(train_prompts))
    return [few_shot_prompt(rng.sample(train_prompts, k), k + 1) for _ in range(config.num_requests)]


def collect(responses: list[str], train_prompts: list[str], config: SynthesisConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(candidates, rejected) from the teacher's raw list responses."""
    novelty = NoveltyFilter(config.novelty_threshold, list(train_prompts))
    kept, rejected = [], []
    for r, response in enumerate(responses):
        items = parse_numbered(response)
        if not items:
            rejected.append({"id": f"self_instruct-r{r:03d}", "prompt": response, "reasons": "no numbered instruction could be parsed"})
        for j, text in enumerate(items):
            row = {"id": f"self_instruct-r{r:03d}-{j:02d}", "prompt": text}
            reason = novelty.admit(text)
            (kept if reason is None else rejected).append(row if reason is None else {**row, "reasons": reason})
    candidates = pd.DataFrame(kept, columns=["id", "prompt"])
    candidates["category"], candidates["reference"] = "synthetic", None
    candidates["source"], candidates["split"] = "self_instruct", "train"
    quarantine = pd.DataFrame(rejected, columns=["id", "prompt", "reasons"]).assign(source="self_instruct")
    return candidates[CANDIDATE_COLUMNS], quarantine



def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame(columns=QUARANTINE_COLUMNS)
