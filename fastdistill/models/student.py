"""Student initialisation by layer selection (DistilBERT-style) and the vocabulary check."""

from __future__ import annotations

import json
from pathlib import Path

from fastdistill.models._atomic import build_dir_atomically


class VocabularyMismatchError(ValueError):
    pass


def select_layers(num_teacher_layers: int, num_keep: int) -> list[int]:
    """`num_keep` evenly spaced layer indices, always keeping the first and the last."""
    if not 1 <= num_keep <= num_teacher_layers:
        raise ValueError(f"student.num_layers must be between 1 and the teacher's {num_teacher_layers} layers, got {num_keep}")
    if num_keep == 1:
        return [num_teacher_layers - 1]
    step = (num_teacher_layers - 1) / (num_keep - 1)
    return [round(i * step) for i in range(num_keep)]


def _vocab_size(model_dir: Path) -> int:
    return int(json.loads((Path(model_dir) / "config.json").read_text())["vocab_size"])


def check_vocab_compatible(teacher_dir: Path, student_dir: Path) -> None:
    """Token-level KD needs one vocabulary: refuse a student whose vocabulary differs."""
    teacher, student = _vocab_size(teacher_dir), _vocab_size(student_dir)
    if teacher != student:
        raise VocabularyMismatchError(
            f"student vocabulary size {student} differs from the teacher's {teacher}: token-level distillation "
            "needs the same tokenizer; pick a student from the teacher's family or set student.num_layers"
        )


def build_student_by_layer_selection(teacher_dir: Path, num_layers: int, out_dir: Path) -> Path:
    """A student with `num_layers` of the teacher's decoder layers, embeddings, norm and head copied exactly."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir, dtype=torch.float32)
    kept = select_layers(teacher.config.num_hidden_layers, num_layers)
    config = teacher.config.__class__.from_dict({**teacher.config.to_dict(), "num_hidden_layers": num_layers})
    if getattr(config, "layer_types", None):
        config.layer_types = [teacher.config.layer_types[i] for i in kept]
    student = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = {}
    for key, value in teacher.state_dict().items():
        parts = key.split(".")
        if "layers" in parts:
            at = parts.index("layers")
            teacher_index = int(parts[at + 1])
            if teacher_index not in kept:
                continue
            parts[at + 1] = str(kept.index(teacher_index))
        state[".".join(parts)] = value
    student.load_state_dict(state, strict=True)

    def build(tmp: Path) -> None:
        student.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(teacher_dir).save_pretrained(tmp)
        (tmp / "fastdistill.json").write_text(json.dumps({"init": "layer_selection", "teacher_layers_kept": kept}))

    return build_dir_atomically(Path(out_dir), build)
