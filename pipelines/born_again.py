from zenml import pipeline

from fastdistill.config import (
    BornAgainConfig,
    DataConfig,
    EvaluationConfig,
    GateConfig,
    RegistryConfig,
    StudentConfig,
    SweepConfig,
    SynthesisConfig,
    TeacherConfig,
    TrainingConfig,
)
from pipelines.shared import TEACHER_INFERENCE, labelled_prompts
from steps import build_report, evaluate, train_student
from steps.born_again import (
    plan_generation,
    register_generation,
    score_against_original,
    summarize_chain,
)


@pipeline
def born_again(
    data: DataConfig,
    synthesis: SynthesisConfig,
    gate: GateConfig,
    teacher: TeacherConfig,
    student: StudentConfig,
    training: TrainingConfig,
    sweep: SweepConfig,
    evaluation: EvaluationConfig,
    registry: RegistryConfig,
    born_again: BornAgainConfig,
) -> None:
    """One Born-Again generation: learn from the chain's champion, register with lineage, promote if better.

    The prompt set and the student's initialisation come from the original teacher (`teacher`), so every
    generation starts fresh and only its teacher changes; the original teacher's outputs are computed once
    per chain (ZenML's cache) and every generation is also scored against them.
    """
    generation_teacher, plan = plan_generation(teacher, registry, born_again)
    labelled = labelled_prompts(data, synthesis, gate, teacher, label_with={
        TEACHER_INFERENCE: generation_teacher, "original_teacher_inference": teacher})
    outputs, original_outputs = labelled.outputs[TEACHER_INFERENCE], labelled.outputs["original_teacher_inference"]
    model, _result = train_student(outputs, teacher, student, training, sweep, "generation", id="train_student")
    metrics, samples = evaluate(model, outputs, evaluation, generation_teacher, id="evaluate")
    original_metrics = score_against_original(model, original_outputs, sweep)
    registration = register_generation(model, metrics, original_metrics, plan, registry, born_again, data, training)
    chain = summarize_chain(registration, registry, born_again)
    build_report(metrics, samples, registration, born_again=chain, gate_report=labelled.gate_report)
