"""The openai backend against a small OpenAI-compatible server started by the test.

The server is a real HTTP server on 127.0.0.1 in this process; it answers
`/v1/completions` the way vLLM does (`token_id:N` tokens, top-k logprobs) from
a tiny in-process model, so the backend's results can be compared with the
hf backend on the same model.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from fastdistill.inference.hf import HFBackend
from fastdistill.inference.openai_server import OpenAIBackend, ServerError


class _Server:
    def __init__(self, backend: HFBackend, *, with_logprobs: bool = True, fail_first: int = 0):
        self.backend, self.with_logprobs, self.fail_first, self.requests = backend, with_logprobs, fail_first, 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests += 1
                    failing = outer.requests <= outer.fail_first
                    payload = None if failing else outer.complete(body)
                if failing:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"busy")
                    return
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def complete(self, body: dict) -> dict:
        k = body.get("logprobs")
        if body.get("echo") and body["max_tokens"] == 0:  # vLLM-style prompt scoring
            ids = body["prompt"]
            scored = self.backend.score([(ids[:1], ids[1:])], top_k_logprobs=k)[0]
            tops = [None] + [{f"token_id:{int(i)}": float(lp) for i, lp in zip(a, b)}
                             for a, b in zip(scored.topk_ids, scored.topk_logprobs)]
            return {"choices": [{"text": "", "logprobs": {"tokens": [f"token_id:{t}" for t in ids], "top_logprobs": tops}}]}
        gen = self.backend._generate_batch([body["prompt"]], body["max_tokens"], body["temperature"], 1.0, k)[0]
        logprobs = None
        if k and self.with_logprobs:
            logprobs = {
                "tokens": [f"token_id:{t}" for t in gen.response_ids],
                "token_logprobs": gen.topk_logprobs[:, 0].tolist(),
                "top_logprobs": [{f"token_id:{int(i)}": float(lp) for i, lp in zip(ids, lps)}
                                 for ids, lps in zip(gen.topk_ids, gen.topk_logprobs)],
            }
        return {"choices": [{"text": gen.text, "logprobs": logprobs, "finish_reason": "stop"}]}

    def close(self):
        self.httpd.shutdown()


@pytest.fixture()
def hf(tiny_teacher_dir):
    return HFBackend(tiny_teacher_dir)


PROMPTS = ["Name a color.", "What is two plus two?", "Say hello in French."]


def test_openai_backend_matches_the_hf_backend_on_the_same_model(hf):
    server = _Server(hf)
    try:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer, concurrency=2)
        got = remote.generate(PROMPTS, max_new_tokens=6, top_k_logprobs=4)
    finally:
        server.close()
    expected = HFBackend.from_model(hf.model, hf.tokenizer).generate(PROMPTS, max_new_tokens=6, batch_size=1, top_k_logprobs=4)
    for a, b in zip(got, expected):
        assert a.prompt_ids == b.prompt_ids and a.response_ids == b.response_ids
        assert np.array_equal(a.topk_ids, b.topk_ids)
        assert np.allclose(a.topk_logprobs, b.topk_logprobs, atol=1e-5)
    assert remote.stats.new_tokens == sum(len(g.response_ids) for g in got)


def test_scoring_given_responses_matches_generation_and_the_hf_backend(hf):
    own = hf.generate(PROMPTS, max_new_tokens=6, batch_size=1, top_k_logprobs=3)
    pairs = [(g.prompt_ids, g.response_ids) for g in own]
    local = hf.score(pairs, top_k_logprobs=3)
    server = _Server(hf)
    try:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer).score(pairs, top_k_logprobs=3)
    finally:
        server.close()
    for g, a, b in zip(own, local, remote):
        assert np.array_equal(g.topk_ids, a.topk_ids) and np.allclose(g.topk_logprobs, a.topk_logprobs, atol=1e-4)
        assert np.array_equal(a.topk_ids, b.topk_ids) and np.allclose(a.topk_logprobs, b.topk_logprobs, atol=1e-5)


def test_transient_server_errors_are_retried(hf):
    server = _Server(hf, fail_first=2)
    try:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer, concurrency=1, retries=3, backoff_s=0.01)
        got = remote.generate(PROMPTS[:1], max_new_tokens=4, top_k_logprobs=2)
    finally:
        server.close()
    assert server.requests == 3 and len(got[0].response_ids) > 0


def test_server_without_logprobs_gets_a_clear_error(hf):
    server = _Server(hf, with_logprobs=False)
    try:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer, retries=0)
        with pytest.raises(ServerError, match="returned no logprobs"):
            remote.generate(PROMPTS[:1], max_new_tokens=4, top_k_logprobs=2)
    finally:
        server.close()


def test_unreachable_server_names_the_url(hf):
    remote = OpenAIBackend("http://127.0.0.1:9/v1", "tiny", hf.tokenizer, retries=1, backoff_s=0.01)
    with pytest.raises(ServerError, match=r"http://127.0.0.1:9/v1/completions unreachable after 2 tries"):
        remote.generate(PROMPTS[:1], max_new_tokens=2, top_k_logprobs=2)


def test_vllm_backend_import_guard_is_clear_on_cpu_machines(tiny_teacher_dir):
    from fastdistill.inference.vllm_offline import BackendUnavailable, VLLMBackend

    with pytest.raises(BackendUnavailable, match="teacher.backend 'vllm' needs"):
        VLLMBackend(tiny_teacher_dir, top_k=4)
