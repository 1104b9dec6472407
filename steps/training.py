import tempfile
from pathlib import Path
from typing import Annotated

import mlflow
from zenml import log_metadata, step

from fastdistill import training
from fastdistill.artifacts import ModelDirectory
from fastdistill.config import StudentConfig, TeacherConfig, TrainingConfig
from fastdistill.topk import TeacherOutputs


@step(experiment_tracker=True)
def train_student(
    teacher_outputs: TeacherOutputs,
    teacher_config: TeacherConfig,
    student_config: StudentConfig,
    training_config: TrainingConfig,
) -> Annotated[ModelDirectory, "student_model"]:
    """Initialise the student and train it on the teacher's top-k store (CE + the configured KD objective)."""
    work = Path(tempfile.mkdtemp(prefix="fastdistill-student-"))
    init_dir, tokenizer, init_info = training.prepare_student(teacher_config, student_config, work / "init")
    result = training.train_student(init_dir, tokenizer, teacher_outputs, training_config, work / "trained")
    info = {**init_info, "objective": training_config.objective, "teacher": teacher_config.model,
            "train_examples": result.num_examples, "train_seconds": round(result.seconds, 1)}
    mlflow.log_params({f"training.{k}": v for k, v in training_config.model_dump().items()})
    mlflow.log_params({"teacher.model": teacher_config.model, "teacher.top_k": teacher_config.top_k,
                       **{f"student.{k}": v for k, v in init_info.items()}})
    for row in result.history:
        mlflow.log_metrics({f"train/{k}": v for k, v in row.items() if k != "step"}, step=row["step"])
    log_metadata({**info, "warnings": result.warnings or "none"})
    return ModelDirectory(result.model_dir, info)
