from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from fastdistill import teacher
from fastdistill.config import TeacherConfig
from fastdistill.topk import TeacherOutputs


@step
def teacher_inference(gated_prompts: pd.DataFrame, teacher_config: TeacherConfig) -> Annotated[TeacherOutputs, "teacher_outputs"]:
    """Label every gated prompt with the teacher, keeping top-k logprobs per response token."""
    backend = teacher.backend_for(teacher_config)
    outputs = teacher.label(backend, gated_prompts, teacher_config)
    log_metadata({"rows": len(outputs.frame), "tokens": outputs.num_tokens,
                  "seconds": outputs.meta.seconds, "tokens_per_s": outputs.meta.tokens_per_s})
    return outputs
