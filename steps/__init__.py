"""ZenML steps: thin wrappers around `fastdistill`, one stage each."""

import materializers  # noqa: F401  registers the project's materializers
from steps.data import load_seeds
from steps.evaluation import evaluate
from steps.quality import quality_gate
from steps.registry import register_student
from steps.report import build_report
from steps.synthesis import synthesize
from steps.teacher import teacher_inference
from steps.training import select_best, train_student

__all__ = [
    "load_seeds", "synthesize", "quality_gate", "teacher_inference",
    "train_student", "select_best", "evaluate", "register_student", "build_report",
]
