"""The start both pipelines share: seeds -> synthesis -> quality gate -> teacher inference."""

from typing import Any, NamedTuple

from steps import load_seeds, quality_gate, synthesize, teacher_inference

TEACHER_INFERENCE = "teacher_inference"


class LabelledPrompts(NamedTuple):
    outputs: dict[str, Any]  # the teacher outputs of each teacher_inference invocation, by invocation id
    gate_report: Any


def labelled_prompts(data, synthesis, gate, teacher, label_with: dict[str, Any] | None = None) -> LabelledPrompts:
    """Seeds, synthesized by `teacher`, gated, then labelled by each teacher of `label_with` (invocation id ->
    teacher config; default: `teacher` under the id `teacher_inference`)."""
    seeds = load_seeds(data, teacher)
    candidates, synthesis_rejects = synthesize(seeds, synthesis, teacher)
    gated, _quarantine, gate_report = quality_gate(candidates, synthesis_rejects, gate)
    labellers = label_with or {TEACHER_INFERENCE: teacher}
    outputs = {step_id: teacher_inference(gated, labeller, id=step_id) for step_id, labeller in labellers.items()}
    return LabelledPrompts(outputs, gate_report)
