"""Fixtures shared by the registry tests: an MLflow server on PostgreSQL, as on the cluster, and a tiny student.

One PostgreSQL cluster per test session (per pytest-xdist worker: ports and
directories never collide), one database and one `mlflow server` per test
module, and a `registry` per test that starts empty and is emptied again.
"""

from __future__ import annotations

import os
import re
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


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL cluster on 127.0.0.1 for this session (or xdist worker), stopped and deleted at the end."""
    from tests.support import postgres, unavailable

    bin_dir = postgres.find_bin_dir()
    if bin_dir is None:
        unavailable("PostgreSQL is not installed (no initdb, pg_ctl and postgres on PATH or under "
                    "/usr/lib/postgresql/*/bin; Debian: apt-get install postgresql)")
    cluster = postgres.start(bin_dir)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def mlflow_server(postgres, request, tmp_path_factory):
    """`mlflow server` on a fresh PostgreSQL database of its own, for one test module; both gone afterwards."""
    from tests.support.mlflow_server import start_server

    database = "mlflow_" + re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1]).lower()
    backend = postgres.create_database(database)
    try:
        server = start_server(tmp_path_factory.mktemp("mlflow-server"), backend)
    except BaseException:
        postgres.drop_database(database)
        raise
    yield server
    server.stop()
    postgres.drop_database(database)


@pytest.fixture()
def registry(mlflow_server, request, tmp_path):
    """A client of the module's MLflow server with an empty registry and an experiment of this test's own
    (artifacts in tmp, not ./mlruns), made the current one; every registered model is deleted afterwards."""
    client = MlflowClient(mlflow_server.uri)
    assert client.search_registered_models() == [], "a previous test left registered models behind"
    experiment_id = client.create_experiment(f"registry-test-{request.node.name}",
                                             artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_tracking_uri(mlflow_server.uri)
    mlflow.set_experiment(experiment_id=experiment_id)
    yield client
    mlflow.set_tracking_uri(None)
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)  # mlflow.set_experiment exports it to subprocesses
    for model in client.search_registered_models():
        client.delete_registered_model(model.name)
