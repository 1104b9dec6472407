"""Tiny random Llama models for tests: built in-process in about a second, nothing downloaded.

They use the packaged SmolLM2 tokenizer so prompts, chat templates and
vocabulary sizes behave as with the real teacher. The same name always gives
the same weights.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fastdistill.models._atomic import build_dir_atomically
from fastdistill.models.packaged import tokenizer_dir

TINY_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512}


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def tiny_model_dir(name: str, cache_dir: Path) -> Path:
    final = cache_dir / "models" / f"tiny-{name}"
    if (final / "fastdistill.json").exists():
        return final
    tok_dir = tokenizer_dir("smollm2-135m-instruct", cache_dir)

    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        config = LlamaConfig(vocab_size=len(tokenizer), tie_word_embeddings=True,
                             bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id, **TINY_SHAPE)
        torch.manual_seed(_seed(name))
        LlamaForCausalLM(config).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "fastdistill.json").write_text(json.dumps({"spec": f"tiny:{name}", **TINY_SHAPE}, indent=2))

    return build_dir_atomically(final, build)
