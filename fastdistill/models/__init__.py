"""Model sources: teacher/student spec strings resolved to local Hugging Face model directories."""

from fastdistill.models.sources import DEFAULT_CACHE_DIR, ModelSpecError, resolve_model, teacher_runs_dir, validate_spec
from fastdistill.models.student import (
    VocabularyMismatchError,
    build_student_by_layer_selection,
    check_vocab_compatible,
    select_layers,
)

__all__ = [
    "DEFAULT_CACHE_DIR", "ModelSpecError", "VocabularyMismatchError", "build_student_by_layer_selection",
    "check_vocab_compatible", "resolve_model", "select_layers", "teacher_runs_dir", "validate_spec",
]
