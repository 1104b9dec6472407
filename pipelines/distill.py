from zenml import pipeline

from fastdistill.config import (
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
from fastdistill.training.sweep import expand_trials
from pipelines.shared import TEACHER_INFERENCE, labelled_prompts
from steps import (
    build_report,
    evaluate,
    register_student,
    select_best,
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
    sweep: SweepConfig,
    evaluation: EvaluationConfig,
    registry: RegistryConfig,
) -> None:
    """seeds -> synthesize -> quality gate -> teacher inference -> training sweep -> evaluate the best -> register -> report.

    Every trial of the sweep trains on the train split of the same teacher outputs (offline objectives never re-run
    the teacher) and is scored on the validation split, where the sweep picks its winner; evaluation and the
    registry's gate read only the test split.
    """
    labelled = labelled_prompts(data, synthesis, gate, teacher)
    outputs = labelled.outputs[TEACHER_INFERENCE]
    models, results = [], []
    for trial in expand_trials(sweep, training, student):
        model, result = train_student(outputs, teacher, trial.student, trial.training, sweep, trial.name,
                                      trial.config_name, id=trial.step_id)
        models.append(model)
        results.append(result)
    best, sweep_results, best_training, selection = select_best(models, results, sweep)
    metrics, samples = evaluate(best, outputs, evaluation, teacher)
    registration = register_student(best, metrics, registry, data, teacher, best_training, outputs, evaluation)
    build_report(metrics, samples, registration, sweep_results=sweep_results, gate_report=labelled.gate_report,
                 selection=selection)
