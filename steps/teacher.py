from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from fastdistill.config import TeacherConfig
from fastdistill.inference.backends import backend_for
from fastdistill.inference.labelling import label_sharded, work_fingerprint
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.models import teacher_runs_dir


@step(experiment_tracker=True)  # a registry teacher (models:/NAME/VERSION) is fetched from MLflow
def teacher_inference(gated_prompts: pd.DataFrame, teacher_config: TeacherConfig) -> Annotated[TeacherOutputs, "teacher_outputs"]:
    """Label every gated prompt with the teacher, keeping top-k logprobs per response token."""
    backend = backend_for(teacher_config)
    # Shards live in the cache, keyed by the job: a retried or restarted step resumes where it stopped.
    work_dir = teacher_runs_dir() / work_fingerprint(gated_prompts, teacher_config, backend)
    outputs = label_sharded(backend, gated_prompts, teacher_config, work_dir, teacher_config.shard_rows)
    log_metadata({"rows": len(outputs.frame), "tokens": outputs.num_tokens, "work_dir": str(work_dir),
                  "seconds": outputs.meta.seconds, "tokens_per_s": outputs.meta.tokens_per_s})
    return outputs
