"""Rationale prompting and parsing (Distilling Step-by-Step).

The teacher is asked to reason first and then answer in a fixed, parseable
shape; its output is split into `rationale` and `answer`. An output that
does not follow the shape gives (None, None) so callers can reject the row
with a reason instead of training on a guess.
"""

from __future__ import annotations

INSTRUCTION = (
    "\n\nThink step by step. Write your reasoning after 'Rationale:' and then the final answer after 'Answer:'."
)


def with_instruction(prompt: str) -> str:
    return prompt + INSTRUCTION


def split_rationale(text: str) -> tuple[str | None, str | None]:
    """(rationale, answer) of a teacher reply; (None, None) if it has no parseable final answer.

    The same parser as synthesis (`fastdistill.reasoning.parse_rationale`), so a reply the gate accepts is
    split the same way when the teacher labels it.
    """
    from fastdistill.reasoning import parse_rationale  # reasoning imports this module's INSTRUCTION

    parsed = parse_rationale(text)
    return parsed.rationale, parsed.answer
