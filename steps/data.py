from typing import Annotated

from zenml import log_metadata, step

from fastdistill.config import DataConfig
from fastdistill.data import seeds
from fastdistill.data.prompt_dataset import PromptDataset


@step
def load_seeds(data: DataConfig) -> Annotated[PromptDataset, "seeds"]:
    """Read the seed tasks and hold out an evaluation split per category."""
    frame = seeds.load_seeds(data)
    counts = frame["split"].value_counts().to_dict()
    log_metadata({"rows": len(frame), "train": counts.get("train", 0), "eval": counts.get("eval", 0),
                  "seeds_sha256": data.seeds_sha256}, infer_artifact=True)
    return PromptDataset.of(frame, "seeds")
