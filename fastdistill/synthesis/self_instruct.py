"""Self-Instruct synthesis: the teacher writes new tasks from few-shot examples.

Requests run in rounds. Each request shows the teacher a few tasks sampled
from the train seeds plus (from the second round on) instructions generated
in earlier rounds, as in the paper, and asks for more in a numbered list.
The list parser expects messy output from a small teacher: numbering styles,
markdown, labels, several items on one line, prose around the list, a last
item cut off by the token budget. Parsed instructions pass the paper's
novelty filter (ROUGE-L against everything pooled so far below a threshold)
before they join the pool. Rejections are returned with their reason, never
dropped silently.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import pandas as pd
from rouge_score import rouge_scorer, tokenizers

from fastdistill.config import SynthesisConfig
from fastdistill.data.seeds import with_candidate_defaults

QUARANTINE_COLUMNS = ["id", "prompt", "reasons", "source", "operator", "stage"]
_ITEM = re.compile(
    r"^\s*(?:[#>*_]+\s*)*(?:(?:task|instruction|question|prompt)\s*)?(?:\d{1,3}\s*[.):\]-]|[-*•·])\s*(?:\*\*|__)?\s*(?P<text>.*\S)\s*$",
    re.I,
)
_INLINE_NUMBER = re.compile(r"\s+(?=\d{1,3}[.)]\s+[A-Z])")
_LABEL = re.compile(r"^(?:task|instruction|question|prompt|new task)\s*\d*\s*[:.-]\s*", re.I)
# The paper drops tasks a text-only model cannot do.
_UNSUITABLE = re.compile(r"\b(?:image|images|picture|photo|graph|plot|draw|diagram|video|audio|file|map|go to)\b", re.I)
_SCORER = rouge_scorer.RougeScorer(["rougeL"], tokenizer=tokenizers.DefaultTokenizer(use_stemmer=False))  # see metrics.py


def few_shot_prompt(examples: list[str], start: int) -> str:
    listed = "\n".join(f"{i}. {text}" for i, text in enumerate(examples, start=1))
    return (
        "Here is a numbered list of tasks a user might give an assistant:\n"
        f"{listed}\n"
        f"Continue the list with new, different tasks. Write one task per line, starting at {start}."
    )


def _clean_item(text: str) -> str:
    text = re.sub(r"(\*\*|__)", "", text).strip()
    text = _LABEL.sub("", text).strip()
    return text.strip("\"'`“”‘’ ").strip()


def _split_lines(text: str) -> list[str]:
    lines = []
    for line in (text or "").splitlines():
        lines.extend(_INLINE_NUMBER.split(line) if _ITEM.match(line) else [line])
    return lines


def parse_numbered(text: str) -> list[str]:
    """Instructions from a numbered or bulleted list; prose around the list is ignored.

    An indented line right after an item continues it (a task can wrap)."""
    items: list[str] = []
    previous_was_item = False
    for line in _split_lines(text):
        match = _ITEM.match(line)
        if match:
            items.append(_clean_item(match.group("text")))
            previous_was_item = True
        elif previous_was_item and line[:1].isspace() and line.strip():
            items[-1] = f"{items[-1]} {line.strip()}"
        else:
            previous_was_item = False
    return [item for item in items if item]


def instruction_problem(text: str) -> str | None:
    """Why a parsed instruction is unusable (None if it is fine)."""
    words = text.split()
    if len(words) < 3:
        return f"too few words: {len(words)} < 3"
    if len(words) > 150:
        return f"too many words: {len(words)} > 150"
    if not text[0].isalnum():
        return "starts with punctuation"
    if text.endswith(":"):
        return "a heading, not a task"
    if _UNSUITABLE.search(text):
        return "unsuitable for a text model: mentions " + _UNSUITABLE.search(text).group(0).lower()
    return None


def parse_instructions(text: str, finished: bool = True) -> tuple[list[str], list[tuple[str, str]]]:
    """(instructions, [(text, reason)]) from one response. If the teacher ran out of
    tokens (`finished` False) the last item is cut off mid-sentence and is rejected."""
    items = parse_numbered(text)
    rejected: list[tuple[str, str]] = []
    if items and not finished:
        rejected.append((items.pop(), "truncated: the response hit the token budget inside this item"))
    kept, seen = [], set()
    for item in items:
        problem = instruction_problem(item)
        if problem is None and item.lower() in seen:
            problem = "repeated within the same response"
        seen.add(item.lower())
        if problem:
            rejected.append((item, problem))
        else:
            kept.append(item)
    return kept, rejected


def rouge_l(a: str, b: str) -> float:
    return _SCORER.score(a, b)["rougeL"].fmeasure


@dataclass
class NoveltyFilter:
    """Keeps an instruction only if its ROUGE-L to every pooled one is below `threshold`."""

    threshold: float
    pool: list[str]

    def closest(self, text: str) -> tuple[float, str]:
        best = (0.0, "")
        for other in self.pool:
            score = rouge_l(other, text)
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


def requests_per_round(config: SynthesisConfig) -> list[int]:
    base, extra = divmod(config.num_requests, config.rounds)
    return [base + (1 if r < extra else 0) for r in range(config.rounds)]


def build_requests(seed_prompts: list[str], config: SynthesisConfig, generated: list[str] | None = None,
                   count: int | None = None, round_index: int = 0) -> list[str]:
    """Few-shot prompts: `examples_per_request` tasks each, up to `machine_examples_per_request` of them generated."""
    rng = random.Random(config.seed * 1000 + round_index)
    generated = generated or []
    k = min(config.examples_per_request, len(seed_prompts) + len(generated))
    requests = []
    for _ in range(config.num_requests if count is None else count):
        n_machine = min(config.machine_examples_per_request, len(generated), k)
        examples = rng.sample(seed_prompts, min(k - n_machine, len(seed_prompts))) + rng.sample(generated, n_machine)
        rng.shuffle(examples)
        requests.append(few_shot_prompt(examples, len(examples) + 1))
    return requests


def _quarantine_row(row_id: str, prompt: str, reason: str, source: str, operator: str) -> dict:
    return {"id": row_id, "prompt": prompt, "reasons": reason, "source": source, "operator": operator, "stage": "synthesis"}


def collect(responses: list[str], pool: list[str], config: SynthesisConfig, finished: list[bool] | None = None,
            prefix: str = "self_instruct-r0") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(candidates, rejected) from the teacher's raw list responses; `pool` grows with every admitted instruction."""
    novelty = NoveltyFilter(config.novelty_threshold, pool)
    finished = finished or [True] * len(responses)
    kept, rejected = [], []
    for r, (response, done) in enumerate(zip(responses, finished)):
        items, bad = parse_instructions(response, done)
        if not items and not bad:
            rejected.append(_quarantine_row(f"{prefix}q{r:03d}", response, "no numbered instruction could be parsed",
                                            "self_instruct", "self_instruct"))
        for j, text in enumerate(items):
            reason = novelty.admit(text)
            row_id = f"{prefix}q{r:03d}-{j:02d}"
            if reason is None:
                kept.append({"id": row_id, "prompt": text})
            else:
                rejected.append(_quarantine_row(row_id, text, reason, "self_instruct", "self_instruct"))
        for j, (text, reason) in enumerate(bad):
            rejected.append(_quarantine_row(f"{prefix}q{r:03d}-x{j:02d}", text, reason, "self_instruct", "self_instruct"))
    return synthetic_rows(kept, "self_instruct", "self_instruct"), pd.DataFrame(rejected, columns=QUARANTINE_COLUMNS)


def synthetic_rows(rows: list[dict], source: str, operator: str, category: str = "synthetic") -> pd.DataFrame:
    """Candidate rows (train split) from dicts with at least id and prompt; other columns get defaults."""
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["id", "prompt"])
    for name, value in {"category": category, "reference": None, "source": source, "split": "train", "operator": operator}.items():
        if name not in frame:
            frame[name] = value
    return with_candidate_defaults(frame)


def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame(columns=QUARANTINE_COLUMNS)
