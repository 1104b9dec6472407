"""Rationale labels (Distilling Step-by-Step) and self-consistency voting (Data Distillation).

The teacher is asked to reason first and then answer in a fixed, parseable
shape: 'Rationale: ... Answer: ...'. A small teacher often drifts from that
shape, so the parser also accepts the usual ways a model states a final
answer ('The answer is 42', '#### 42', 'Final answer: 42', markdown bold
labels). A reply with no recognisable final answer is rejected with that
reason rather than guessed at. With several samples per prompt the majority
answer wins and its vote share is recorded as `agreement`. Synthesis and the
teacher's labelling run use the same parser, so a reply the gate accepts is
split the same way when the teacher labels it.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass

INSTRUCTION = (
    "\n\nThink step by step. Write your reasoning after 'Rationale:' and then the final answer after 'Answer:'."
)


def with_instruction(prompt: str) -> str:
    return prompt + INSTRUCTION


# A marker is a label, not a word: "Answer:" / "Final answer:" (colon required) at the start of a line or
# sentence, the phrase "the (final) answer is", or "####". "...since answers must be whole numbers" has none.
_ANSWER_MARKERS = re.compile(
    r"(?:(?:^|(?<=[\n.!?])|(?<=[.!?][ \t]))[ \t]*(?:\*\*|__)?(?:final\s+)?answer(?:\*\*|__)?\s*[:=]"
    r"|\bthe\s+(?:final\s+)?answer\s+is\b\s*:?"
    r"|(?:^|(?<=\s))####)"
    r"\s*(?:\*\*|__)?",
    re.I,
)
_RATIONALE_LABEL = re.compile(r"^\s*(?:\*\*|__)?(?:rationale|reasoning|explanation|step-by-step)(?:\*\*|__)?\s*:\s*", re.I)
_NUMBER = re.compile(r"^-?\$?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class Parsed:
    rationale: str | None
    answer: str | None
    problem: str | None = None


def parse_rationale(text: str) -> Parsed:
    """Split a reply into rationale and final answer; `problem` says why not when it cannot."""
    text = (text or "").strip()
    markers = list(_ANSWER_MARKERS.finditer(text))
    if not markers:
        return Parsed(None, None, "no final answer: no 'Answer:' (or 'The answer is', '####') in the reply")
    last = markers[-1]
    answer = text[last.end():].strip().splitlines()[0].strip() if text[last.end():].strip() else ""
    answer = answer.strip("*_ ").rstrip(".").strip()
    rationale = _RATIONALE_LABEL.sub("", text[: last.start()]).strip()
    if not answer:
        return Parsed(None, None, "no final answer: the answer marker is followed by nothing")
    if len(rationale.split()) < 3:
        return Parsed(None, None, "no rationale: fewer than 3 words of reasoning before the answer")
    return Parsed(rationale, answer)


def answer_key(answer: str) -> str:
    """Answers that mean the same compare equal: '$1,200.00' and '1200' -> '1200'; case and punctuation ignored."""
    number = _NUMBER.match(answer.strip())
    if number:
        value = float(number.group(0).replace("$", "").replace(",", ""))
        return f"{value:g}"
    return " ".join(answer.lower().translate(str.maketrans("", "", string.punctuation)).split())


@dataclass(frozen=True)
class Vote:
    rationale: str | None
    answer: str | None
    agreement: float  # share of all samples that gave the majority answer
    problem: str | None = None


def majority(replies: list[str], min_agreement: float = 0.0) -> Vote:
    """Self-consistency over one prompt's samples: the majority answer and a rationale that reached it."""
    parsed = [parse_rationale(r) for r in replies]
    good = [p for p in parsed if p.problem is None]
    if not good:
        return Vote(None, None, 0.0, f"rationale unparseable: {parsed[0].problem} (all {len(replies)} sample(s))")
    counts = Counter(answer_key(p.answer) for p in good)
    key, votes = max(counts.items(), key=lambda kv: (kv[1], -list(counts).index(kv[0])))
    agreement = votes / len(replies)
    if agreement < min_agreement:
        return Vote(None, None, agreement, f"low agreement: {votes} of {len(replies)} samples agree < min_agreement {min_agreement}")
    winner = next(p for p in good if answer_key(p.answer) == key)
    return Vote(winner.rationale, winner.answer, agreement)


def split_rationale(text: str) -> tuple[str | None, str | None]:
    """(rationale, answer) of a teacher reply; (None, None) if it has no parseable final answer."""
    parsed = parse_rationale(text)
    return parsed.rationale, parsed.answer
