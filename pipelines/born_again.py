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
from steps import (
    build_report,
    evaluate,
    load_seeds,
    quality_gate,
    synthesize,
    teacher_inference,
    train_student,
)
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
    seeds = load_seeds(data)
    candidates, synthesis_rejects = synthesize(seeds, synthesis, teacher)
    gated, _quarantine, _report = quality_gate(candidates, synthesis_rejects, gate)
    outputs = teacher_inference(gated, generation_teacher, id="teacher_inference")
    original_outputs = teacher_inference(gated, teacher, id="original_teacher_inference")
    model, _result = train_student(outputs, teacher, student, training, sweep, "generation", id="train_student")
    metrics, samples = evaluate(model, outputs, evaluation, generation_teacher, id="evaluate")
    original_metrics = score_against_original(model, original_outputs, sweep)
    registration = register_generation(model, metrics, original_metrics, plan, registry, born_again, data, training)
    chain = summarize_chain(registration, registry, born_again)
    build_report(metrics, samples, registration, born_again=chain)
