from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from fastdistill import synthesis, teacher
from fastdistill.config import SynthesisConfig, TeacherConfig


@step
def synthesize(
    seeds: pd.DataFrame, synthesis_config: SynthesisConfig, teacher_config: TeacherConfig
) -> tuple[Annotated[pd.DataFrame, "candidates"], Annotated[pd.DataFrame, "synthesis_rejects"]]:
    """Self-Instruct: the teacher writes new tasks; seeds plus novel ones become candidates."""
    if not synthesis_config.enabled:
        return seeds, synthesis.empty_quarantine()
    train_prompts = seeds.loc[seeds["split"] == "train", "prompt"].tolist()
    requests = synthesis.build_requests(train_prompts, synthesis_config)
    backend = teacher.backend_for(teacher_config)
    gens = backend.generate(
        requests,
        max_new_tokens=synthesis_config.max_new_tokens,
        batch_size=teacher_config.batch_size,
        temperature=synthesis_config.temperature,
        top_p=synthesis_config.top_p,
        seed=synthesis_config.seed,
        desc="self-instruct",
    )
    new, rejects = synthesis.collect([g.text for g in gens], train_prompts, synthesis_config)
    candidates = pd.concat([seeds, new], ignore_index=True)
    log_metadata({"requests": len(requests), "synthesized": len(new), "rejected": len(rejects),
                  "teacher_tokens_per_s": round(backend.stats.tokens_per_s, 2)})
    return candidates, rejects
