from zenml import pipeline

from fastdistill.config import (
    DataConfig,
    EvaluationConfig,
    RegistryConfig,
    StudentConfig,
    SynthesisConfig,
    TeacherConfig,
    TrainingConfig,
)
from fastdistill.quality import GateConfig
from steps import (
    evaluate,
    load_seeds,
    quality_gate,
    register_student,
    synthesize,
    teacher_inference,
    train_student,
)


@pipeline
def distill(
    data: DataConfig,
    synthesis: SynthesisConfig,
    gate: GateConfig,
    teacher: TeacherConfig,
    student: StudentConfig,
    training: TrainingConfig,
    evaluation: EvaluationConfig,
    registry: RegistryConfig,
) -> None:
    """seeds -> synthesize -> quality gate -> teacher inference -> train -> evaluate -> register."""
    seeds = load_seeds(data)
    candidates, synthesis_rejects = synthesize(seeds, synthesis, teacher)
    gated, _quarantine, _report = quality_gate(candidates, synthesis_rejects, gate)
    outputs = teacher_inference(gated, teacher)
    model = train_student(outputs, teacher, student, training)
    metrics, _samples = evaluate(model, outputs, evaluation, teacher)
    register_student(model, metrics, registry, data, teacher, training)
