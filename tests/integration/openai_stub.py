"""A small OpenAI-compatible server for tests: a real HTTP server on 127.0.0.1, in this process.

It stands in for a served teacher or judge because a real vLLM server needs a GPU (none here). It speaks the
OpenAI wire format the `openai` SDK reads: `/v1/completions` (text_completion objects with `logprobs.tokens`,
`top_logprobs`, `text_offset`, `finish_reason`, `usage`), `/v1/chat/completions` (chat.completion objects with
`logprobs.content[].top_logprobs[]` and their `bytes`), and errors as `{"error": {"message", "type", "code"}}`.
Completions come from a tiny in-process model, so results can be compared with the hf backend.

What it can be told to do, each like a real server:
- `token_ids`: honour vLLM's `return_tokens_as_token_ids` (`token_id:N` tokens); off, every token is returned
  as its decoded text, and a token that is part of a multi-byte character as `bytes:\\xNN...` (OpenAI's form);
- `llama_cpp`: answer completions' logprobs the way llama.cpp's server does, in the chat shape
  (`content` entries with each token's `id`, `bytes` and its text cut to whole UTF-8 characters);
- `max_logprobs`: refuse more logprobs with vLLM's 400 ("... greater than max allowed: N"); with
  `silent_cap`, return only that many instead (as llama.cpp's server does);
- `text_prompts`: refuse a prompt given as token ids as llama-cpp-python's server does (FastAPI's validation
  error, which its handler answers as a 500);
- `strict`: refuse a request field OpenAI's API does not know with its 400 ("Unrecognized request argument");
- `fail_first`: answer the first n requests with 503 (and `retry-after-ms`, which the SDK honours);
- `stall_s`: hold every request this long and then drop it unanswered (a server too slow for the client's timeout);
- `judge`: a function (first answer, second answer) -> P(first is better) behind the chat endpoint.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from transformers.convert_slow_tokenizer import bytes_to_unicode

_BYTE_OF = {c: b for b, c in bytes_to_unicode().items()}
OPENAI_COMPLETION_FIELDS = {"model", "prompt", "max_tokens", "temperature", "top_p", "n", "stream", "logprobs", "echo",
                            "stop", "presence_penalty", "frequency_penalty", "best_of", "logit_bias", "user", "seed",
                            "suffix", "stream_options"}


def token_bytes(tokenizer, token_id: int) -> bytes:
    """The bytes a byte-level BPE token stands for (special tokens: their own text)."""
    token = tokenizer.convert_ids_to_tokens(token_id)
    if token in tokenizer.all_special_tokens:
        return token.encode()
    return bytes(_BYTE_OF[c] for c in token)


def text_piece(tokenizer, token_id: int) -> str:
    """How a server without token ids renders a token: its text, or `bytes:` escapes when that is not whole UTF-8."""
    raw = token_bytes(tokenizer, token_id)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in raw)


class StubServer:
    def __init__(self, backend=None, *, token_ids: bool = True, llama_cpp: bool = False, max_logprobs: int | None = None,
                 silent_cap: bool = False, fail_first: int = 0, judge: Callable[[str, str], float] | None = None,
                 judge_logprobs: bool = True, stall_s: float = 0.0, text_prompts: bool = False, strict: bool = False):
        self.backend, self.token_ids, self.max_logprobs, self.silent_cap = backend, token_ids, max_logprobs, silent_cap
        self.llama_cpp, self.stall_s, self.text_prompts, self.strict = llama_cpp, stall_s, text_prompts, strict
        self.fail_first, self.judge, self.judge_logprobs = fail_first, judge, judge_logprobs
        self.requests, self.generations, self.bodies, self.replies = 0, 0, [], []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> StubServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.stall_s:
                    time.sleep(outer.stall_s)
                    return
                with outer.lock:
                    outer.requests += 1
                    outer.bodies.append(body)
                    if outer.requests <= outer.fail_first:
                        status, payload = 503, _error("the server is overloaded", "ServiceUnavailableError", 503)
                    elif self.path.endswith("/chat/completions"):
                        status, payload = outer.chat(body)
                    else:
                        status, payload = outer.complete(body)
                    outer.replies.append(payload)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 503:
                    self.send_header("retry-after-ms", "10")
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _render(self, body: dict, token_id: int) -> str:
        if self.token_ids and body.get("return_tokens_as_token_ids"):
            return f"token_id:{token_id}"
        return text_piece(self.backend.tokenizer, token_id)

    def _tops(self, body: dict, ids, lps) -> dict[str, float]:
        return {self._render(body, int(i)): float(lp) for i, lp in zip(ids, lps)}

    def complete(self, body: dict) -> tuple[int, dict]:
        k = body.get("logprobs")
        if k is not None and self.max_logprobs is not None and k > self.max_logprobs and not self.silent_cap:
            return 400, _error(f"Requested sample logprobs of {k}, which is greater than max allowed: "
                               f"{self.max_logprobs}", "BadRequestError", 400)
        unknown = sorted(set(body) - OPENAI_COMPLETION_FIELDS)
        if self.strict and unknown:
            return 400, _error(f"Unrecognized request argument supplied: {unknown[0]}", "invalid_request_error", 400)
        if self.text_prompts and isinstance(body["prompt"], list):
            return 500, _error("1 validation errors:\n  {'type': 'string_type', 'loc': ('body', 'prompt', 'str'), "
                               "'msg': 'Input should be a valid string'}", "internal_server_error", 500)
        shown = min(k, self.max_logprobs) if k is not None and self.max_logprobs is not None else k
        tokenizer = self.backend.tokenizer
        ids = (body["prompt"] if isinstance(body["prompt"], list)
               else tokenizer(body["prompt"], add_special_tokens=False)["input_ids"])
        if body.get("echo") and body["max_tokens"] == 0:  # vLLM-style prompt scoring
            scored = self.backend.score([(ids[:1], ids[1:])], top_k_logprobs=k)[0]
            tops = [None] + [self._tops(body, a[:shown], b[:shown]) for a, b in zip(scored.topk_ids, scored.topk_logprobs)]
            logprobs = {"tokens": [self._render(body, t) for t in ids], "top_logprobs": tops}
            return 200, _completion(body, "", logprobs, "length", len(ids), 0)
        self.generations += 1
        gen = self.backend._generate_batch([ids], body["max_tokens"], body.get("temperature", 1.0), 1.0, k)[0]
        eos = tokenizer.eos_token_id
        finish = "stop" if eos in gen.response_ids else "length"
        logprobs = None
        if k is not None and self.llama_cpp:
            logprobs = {"content": [{**self._entry(t, lp), "top_logprobs": [self._entry(int(i), float(x))
                                                                              for i, x in zip(a[:shown], b[:shown])]}
                                    for t, lp, a, b in zip(gen.response_ids, gen.topk_logprobs[:, 0].tolist(),
                                                           gen.topk_ids, gen.topk_logprobs)]}
        elif k is not None:
            tokens = [self._render(body, t) for t in gen.response_ids]
            offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
            logprobs = {"tokens": tokens, "token_logprobs": gen.topk_logprobs[:, 0].tolist(), "text_offset": offsets,
                        "top_logprobs": [self._tops(body, a[:shown], b[:shown])
                                         for a, b in zip(gen.topk_ids, gen.topk_logprobs)]}
        return 200, _completion(body, gen.text, logprobs, finish, len(ids), len(gen.response_ids))

    def _entry(self, token_id: int, logprob: float) -> dict:
        raw = token_bytes(self.backend.tokenizer, token_id)
        return {"id": token_id, "token": raw.decode("utf-8", errors="ignore"), "bytes": list(raw), "logprob": logprob}

    def chat(self, body: dict) -> tuple[int, dict]:
        question = body["messages"][-1]["content"]
        first = re.search(r"Answer A:\n(.*?)\n\nAnswer B:", question, re.S).group(1)
        second = re.search(r"Answer B:\n(.*?)\n\nWhich answer", question, re.S).group(1)
        p = self.judge(first, second)
        letter = "A" if p >= 0.5 else "B"
        logprobs = None
        if self.judge_logprobs and body.get("logprobs"):
            alternatives = [("A", p), ("B", 1 - p), (" A", 1e-4), ("The", 1e-5)][: body.get("top_logprobs") or 1]
            tops = [{"token": t, "logprob": math.log(max(q, 1e-12)), "bytes": list(t.encode())} for t, q in alternatives]
            tops.sort(key=lambda t: -t["logprob"])
            logprobs = {"content": [{**tops[0], "top_logprobs": tops}], "refusal": None}
        return 200, {"id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
                     "model": body["model"], "system_fingerprint": None,
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": letter, "refusal": None},
                                  "logprobs": logprobs, "finish_reason": "length"}],
                     "usage": {"prompt_tokens": len(question.split()), "completion_tokens": 1,
                               "total_tokens": len(question.split()) + 1}}


def _completion(body: dict, text: str, logprobs, finish: str, prompt_tokens: int, new_tokens: int) -> dict:
    return {"id": "cmpl-stub", "object": "text_completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": new_tokens,
                      "total_tokens": prompt_tokens + new_tokens}}


def _error(message: str, kind: str, code: int) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
