from functools import cache
from typing import Annotated

from zenml import log_metadata, step

from fastdistill.config import DataConfig, TeacherConfig
from fastdistill.data import seeds
from fastdistill.data.prompt_dataset import PromptDataset


def _teacher_template(teacher: TeacherConfig):
    """Renders a chat row's conversation with the teacher's chat template; the tokenizer loads on the first chat row."""
    from fastdistill.inference.chat import load_tokenizer, render_conversation
    from fastdistill.models import resolve_model

    tokenizer = cache(lambda: load_tokenizer(resolve_model(teacher.model)))
    return lambda conversation: render_conversation(tokenizer(), conversation)


@step
def load_seeds(data: DataConfig, teacher: TeacherConfig) -> Annotated[PromptDataset, "seeds"]:
    """Read the prompts (any supported format; chat rows rendered with the teacher's chat template) and hold out the
    validation and test splits per category."""
    frame = seeds.load_seeds(data, _teacher_template(teacher), render_key=teacher.model)
    counts = frame["split"].value_counts().to_dict()
    log_metadata({"rows": len(frame), "train": counts.get("train", 0), "validation": counts.get("validation", 0),
                  "test": counts.get("test", 0), "chat_rows": int(frame["messages"].notna().sum()),
                  "seeds_sha256": data.seeds_sha256}, infer_artifact=True)
    return PromptDataset.of(frame, "seeds")
