"""Model sources: teacher/student spec strings resolved to local Hugging Face model directories."""

from fastdistill.models.sources import (
    DEFAULT_CACHE_DIR,
    ModelSpecError,
    resolve_model,
    teacher_runs_dir,
    validate_spec,
)
from fastdistill.models.student import build_student_by_layer_selection, select_layers
from fastdistill.models.vocab import (
    SharedVocabulary,
    VocabularyMismatchError,
    check_training_vocab,
    check_vocab_compatible,
    vocab_sha256,
)

__all__ = [
    "DEFAULT_CACHE_DIR", "ModelSpecError", "SharedVocabulary", "VocabularyMismatchError",
    "build_student_by_layer_selection", "check_training_vocab", "check_vocab_compatible", "resolve_model",
    "select_layers", "teacher_runs_dir", "validate_spec", "vocab_sha256",
]
