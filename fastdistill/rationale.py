"""Rationale prompting and parsing (Distilling Step-by-Step).

The teacher is asked to reason first and then answer in a fixed, parseable
shape; its output is split into `rationale` and `answer`. An output that
does not follow the shape gives (None, None) so callers can reject the row
with a reason instead of training on a guess.
"""

from __future__ import annotations

import re

INSTRUCTION = (
    "\n\nThink step by step. Write your reasoning after 'Rationale:' and then the final answer after 'Answer:'."
)
_SHAPE = re.compile(r"rationale\s*:\s*(?P<rationale>.+?)\s*(?:final\s+)?answer\s*:\s*(?P<answer>.+)", re.I | re.S)


def with_instruction(prompt: str) -> str:
    return prompt + INSTRUCTION


def split_rationale(text: str) -> tuple[str | None, str | None]:
    """(rationale, answer) from 'Rationale: ... Answer: ...'; (None, None) if the shape is not there."""
    match = _SHAPE.search(text or "")
    if not match:
        return None, None
    rationale, answer = match.group("rationale").strip(), match.group("answer").strip()
    return (rationale, answer) if rationale and answer else (None, None)
