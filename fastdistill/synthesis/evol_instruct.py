"""Evol-Instruct (WizardLM): the teacher rewrites prompts into harder or new ones.

In-depth operators make a prompt harder (add a constraint, deepen, concretize,
ask for more reasoning steps); the in-breadth operator writes a new prompt in
the same domain. The elimination check drops evolutions that failed, each
with its reason: the teacher copied the prompt, echoed the template, refused,
or (in-depth) made it shorter than the original.
"""

from __future__ import annotations

import re

from fastdistill.synthesis.self_instruct import rouge_l

_DEPTH = (
    "I want you to act as a Prompt Rewriter. Rewrite the given prompt into a more complex version that "
    "famous AI systems would find a bit harder, while a human still understands and can answer it. {method} "
    "Do not answer the prompt. Add at most 20 words. Write only the rewritten prompt.\n"
    "#Given Prompt#:\n{prompt}\n#Rewritten Prompt#:\n"
)
DEPTH_METHODS = {
    "add_constraints": "Add one more constraint or requirement to it.",
    "deepen": "If it asks about a certain issue, increase the depth and breadth of the question.",
    "concretize": "Replace general concepts with more specific ones.",
    "increase_reasoning": "If it can be solved with a few simple thinking steps, rewrite it to explicitly ask for multiple-step reasoning.",
}
_BREADTH = (
    "I want you to act as a Prompt Creator. Draw inspiration from the given prompt to create a brand new prompt. "
    "It must belong to the same domain but be about a rarer topic, with a similar length and difficulty. "
    "Write only the new prompt.\n#Given Prompt#:\n{prompt}\n#Created Prompt#:\n"
)
OPERATORS = (*DEPTH_METHODS, "breadth")
_MARKER = re.compile(r"#?\s*(?:the\s+|this\s+)?(?:given|rewritten|created)\s+prompt\s*(?:is)?\s*#?\s*:?", re.I)
_LEADING_MARKER = re.compile(r"^\s*(?:#?\s*(?:the\s+)?(?:given|rewritten|created|new)\s+prompt\s*(?:is)?\s*#?\s*:?)+", re.I)
_REFUSAL = re.compile(r"\b(?:sorry|as an ai|i cannot|i can't|i am unable|i'm unable|cannot fulfill)\b", re.I)
COPY_THRESHOLD = 0.9


def evolution_prompt(prompt: str, operator: str) -> str:
    if operator == "breadth":
        return _BREADTH.format(prompt=prompt)
    return _DEPTH.format(method=DEPTH_METHODS[operator], prompt=prompt)


def parse_evolution(text: str) -> str:
    """The evolved prompt from the teacher's reply: template markers stripped, first real paragraph kept."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]
    for paragraph in paragraphs:
        cleaned = _LEADING_MARKER.sub("", paragraph).strip().strip("\"'`“” ").strip()
        if cleaned and not cleaned.endswith(":"):
            return " ".join(cleaned.split())
    return ""


def elimination_reason(original: str, evolved: str, operator: str, echoed_template: bool = False) -> str | None:
    """Why an evolution failed (None if it is kept)."""
    if not evolved or not any(ch.isalpha() for ch in evolved):
        return "evolution eliminated: empty"
    if echoed_template:
        return "evolution eliminated: echoed the template ('given/rewritten prompt')"
    score = rouge_l(original, evolved)
    if score >= COPY_THRESHOLD:
        return f"evolution eliminated: copied the prompt (ROUGE-L {score:.2f})"
    if _REFUSAL.search(evolved):
        return "evolution eliminated: became a refusal"
    if operator != "breadth" and len(evolved.split()) < len(original.split()):
        return f"evolution eliminated: shorter than the original ({len(evolved.split())} < {len(original.split())} words)"
    return None


def judge(original: str, reply: str, operator: str) -> tuple[str, str | None]:
    """(evolved prompt, elimination reason or None) for one teacher reply."""
    evolved = parse_evolution(reply)
    echoed = bool(_MARKER.search(evolved))
    return evolved, elimination_reason(original, evolved, operator, echoed)
