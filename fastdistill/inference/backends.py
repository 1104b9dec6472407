"""The backend a teacher config names; GPU-only and server backends are imported only when chosen."""

from __future__ import annotations

from pathlib import Path

from fastdistill.config import TeacherConfig
from fastdistill.inference.chat import load_tokenizer
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.types import Backend
from fastdistill.models import resolve_model


def backend_for(config: TeacherConfig, cache_dir: Path | None = None) -> Backend:
    """The backend named in the config. GPU-only backends are imported only when chosen."""
    model_dir = resolve_model(config.model, cache_dir)  # the openai backend needs its tokenizer too
    if config.backend == "vllm":
        from fastdistill.inference.vllm_offline import VLLMBackend

        return VLLMBackend(model_dir, top_k=config.top_k, tensor_parallel_size=config.tensor_parallel_size)
    if config.backend == "openai":
        from fastdistill.inference.openai_server import OpenAIBackend

        return OpenAIBackend(config.base_url, config.api_model or config.model, load_tokenizer(model_dir),
                             concurrency=config.concurrency, max_retries=config.max_retries,
                             timeout_s=config.timeout_s, api_key_env=config.api_key_env)
    return HFBackend(model_dir)
