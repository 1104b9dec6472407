"""Tiny random Llama models for tests: built in-process in about a second, nothing downloaded.

They use the packaged SmolLM2 tokenizer so prompts, chat templates and
vocabulary sizes behave as with the real teacher. The same spec always gives
the same weights: they are seeded from the name, in a forked RNG so building
one never disturbs the caller's random state.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from fastdistill.models._atomic import build_dir_atomically
from fastdistill.models.packaged import MARKER, tokenizer_dir

TOKENIZER_SOURCE = "smollm2-135m-instruct"
DEFAULT_LAYERS = 4
MAX_LAYERS = 32
TINY_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
              "num_key_value_heads": 2, "max_position_embeddings": 512}
# Bump when the recipe changes, so cached tiny models are rebuilt.
RECIPE_VERSION = 1


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def _recipe(name: str, num_layers: int) -> dict:
    spec = f"tiny:{name}" if num_layers == DEFAULT_LAYERS else f"tiny:{name}?layers={num_layers}"
    return {"spec": spec, "recipe": RECIPE_VERSION, "seed": _seed(spec), "num_hidden_layers": num_layers, **TINY_SHAPE}


def _is_current(entry: Path, recipe: dict) -> bool:
    marker = entry / MARKER
    return marker.is_file() and json.loads(marker.read_text()) == recipe


def tiny_model_dir(name: str, cache_dir: Path, num_layers: int = DEFAULT_LAYERS) -> Path:
    """`cache_dir/models/tiny-NAME[-Ll]`: a tiny Llama with the packaged tokenizer, built once."""
    if not 1 <= num_layers <= MAX_LAYERS:
        raise ValueError(f"tiny:{name}: layers must be between 1 and {MAX_LAYERS}, got {num_layers}")
    recipe = _recipe(name, num_layers)
    suffix = "" if num_layers == DEFAULT_LAYERS else f"-{num_layers}l"
    final = Path(cache_dir) / "models" / f"tiny-{name}{suffix}"
    if _is_current(final, recipe):
        return final
    tok_dir = tokenizer_dir(TOKENIZER_SOURCE, cache_dir)

    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        config = LlamaConfig(vocab_size=len(tokenizer), tie_word_embeddings=True,
                             bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id, num_hidden_layers=num_layers, **TINY_SHAPE)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe["seed"])
            model = LlamaForCausalLM(config)
        model.save_pretrained(tmp)
        for file in tok_dir.iterdir():
            if file.name != MARKER:
                shutil.copy2(file, tmp / file.name)
        (tmp / MARKER).write_text(json.dumps(recipe, indent=2))

    return build_dir_atomically(final, build)
