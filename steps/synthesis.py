from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from fastdistill.config import SynthesisConfig, TeacherConfig
from fastdistill.data.prompt_dataset import PromptDataset
from fastdistill.data.seeds import with_candidate_defaults
from fastdistill.inference.backends import backend_for
from fastdistill.inference.chat import load_tokenizer
from fastdistill.models import resolve_model
from fastdistill.synthesis.candidates import (
    SynthesisResult,
    add_token_counts,
    build_candidates,
)
from fastdistill.synthesis.self_instruct import empty_quarantine


@step
def synthesize(
    seeds: pd.DataFrame, synthesis_config: SynthesisConfig, teacher_config: TeacherConfig
) -> tuple[Annotated[PromptDataset, "candidates"], Annotated[PromptDataset, "synthesis_rejects"]]:
    """Self-Instruct, Evol-Instruct and rationales from the teacher; seeds plus surviving rows become candidates."""
    if synthesis_config.enabled:
        backend = backend_for(teacher_config)
        result = build_candidates(seeds, backend, synthesis_config, teacher_config.batch_size)
        tokenizer, tokens_per_s = backend.tokenizer, round(backend.stats.tokens_per_s, 2)
    else:
        result = SynthesisResult(with_candidate_defaults(seeds), empty_quarantine())
        tokenizer, tokens_per_s = load_tokenizer(resolve_model(teacher_config.model)), 0.0
    candidates = PromptDataset.of(add_token_counts(result.candidates, tokenizer), "candidates")
    rejects = PromptDataset.of(result.quarantine, "synthesis_rejects")
    log_metadata({**result.stats, "candidates": len(candidates), "rejected": len(rejects), "teacher_tokens_per_s": tokens_per_s})
    return candidates, rejects
