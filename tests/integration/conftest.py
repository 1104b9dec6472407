"""Fixtures shared by the registry tests: a fresh SQLite MLflow store and a tiny student saved as a trained one is."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

WORDS = ["<unk>", "<pad>", "</s>", "the", "a", "cat", "dog", "sat", "on", "mat", "red", "blue", "green", "name", "color",
         "user", "assistant", "system"]
# Turns as "<role> <content> </s>": every piece is a word of the vocabulary, so a rendered chat tokenizes exactly.
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }} {{ m['content'] }} </s> {% endfor %}"
                 "{% if add_generation_prompt %}assistant {% endif %}")


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama and a WordLevel tokenizer with a chat template, saved the way a trained student is saved."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>",
                                        eos_token="</s>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=64, max_position_embeddings=64,
                         bos_token_id=2, eos_token_id=2, pad_token_id=1)
    out = tmp_path_factory.mktemp("student")
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture()
def registry(tmp_path):
    """A fresh SQLite tracking + registry store; its experiment keeps artifacts in tmp, not ./mlruns."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("registry-test", artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=experiment_id)
    yield client
    mlflow.set_tracking_uri(None)
