from collections import Counter
from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from fastdistill.config import TeacherConfig
from fastdistill.inference.backends import backend_for
from fastdistill.inference.labelling import label_sharded, shard_dirs
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.models import resolve_model
from steps._scratch import after_outputs_stored


@step(experiment_tracker=True)  # a registry teacher (models:/NAME/VERSION) is fetched from MLflow
def teacher_inference(gated_prompts: pd.DataFrame, teacher_config: TeacherConfig) -> Annotated[TeacherOutputs, "teacher_outputs"]:
    """Label every gated prompt with the teacher, keeping top-k logprobs per response token."""
    backend = backend_for(teacher_config)
    # Shards live under the artifact store, keyed by the job: a rerun on a new pod resumes where it stopped.
    dirs = shard_dirs(gated_prompts, teacher_config, backend, resolve_model(teacher_config.model))
    sources = Counter()
    outputs = label_sharded(backend, gated_prompts, teacher_config, dirs, on_shard=lambda _, source: sources.update([source]))
    # An unfinished job only: once the outputs are ZenML's artifact the shards go (`--no-cache` really reruns).
    after_outputs_stored(dirs.clear)
    log_metadata({"rows": len(outputs.frame), "tokens": outputs.num_tokens, "shards_dir": dirs.durable.root,
                  "shards": dict(sources), "seconds": outputs.meta.seconds, "tokens_per_s": outputs.meta.tokens_per_s})
    return outputs
