"""A teacher behind any OpenAI-compatible completions server (e.g. a vLLM server in the cluster).

Prompts are sent as token ids (the chat template is applied locally, so the
server sees exactly the tokens the student will train on) to
`POST {base_url}/completions` with `logprobs: k`. vLLM's
`return_tokens_as_token_ids` makes every returned token read `token_id:N`;
plain token strings are mapped back through the local tokenizer. Requests run
with bounded concurrency and are retried with exponential backoff on
connection errors, 429 and 5xx.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm.auto import tqdm

from fastdistill.inference.chat import encode_chat_prompt
from fastdistill.inference.types import Generation, GenerationStats


class ServerError(RuntimeError):
    """The server failed or answered something a teacher cannot be built from."""


class OpenAIBackend:
    def __init__(self, base_url: str, model: str, tokenizer, *, concurrency: int = 4, retries: int = 3,
                 backoff_s: float = 0.5, timeout_s: float = 120.0):
        self.base_url, self.model, self.tokenizer = base_url.rstrip("/"), model, tokenizer
        self.concurrency, self.retries, self.backoff_s, self.timeout_s = concurrency, retries, backoff_s, timeout_s
        self.stats = GenerationStats()

    def generate(self, prompts: list[str], *, max_new_tokens: int, batch_size: int = 16, temperature: float = 0.0,
                 top_p: float = 1.0, top_k_logprobs: int | None = None, seed: int = 0,
                 desc: str = "generating") -> list[Generation]:
        """One response per prompt, in input order (`batch_size` is the server's business)."""
        encoded = [encode_chat_prompt(self.tokenizer, p) for p in prompts]
        started = time.perf_counter()

        def one(i: int) -> Generation:
            body = {"model": self.model, "prompt": encoded[i], "max_tokens": max_new_tokens, "temperature": temperature,
                    "top_p": top_p, "seed": seed + i, "return_tokens_as_token_ids": True}
            if top_k_logprobs is not None:
                body["logprobs"] = top_k_logprobs
            return self._parse(encoded[i], self._post(body), top_k_logprobs)

        with ThreadPoolExecutor(self.concurrency) as pool:
            results = list(tqdm(pool.map(one, range(len(prompts))), total=len(prompts), desc=desc, unit="prompt"))
        self.stats.new_tokens += sum(len(g.response_ids) for g in results)
        self.stats.seconds += time.perf_counter() - started
        self.stats.batches += 1
        return results

    def score(self, pairs: list[tuple[list[int], list[int]]], *, top_k_logprobs: int, batch_size: int = 16) -> list[Generation]:
        """Teacher-forced top-k logprobs of given responses: `echo` with no new tokens returns the prompt's logprobs."""
        def one(pair: tuple[list[int], list[int]]) -> Generation:
            prompt, response = list(pair[0]), list(pair[1])
            body = {"model": self.model, "prompt": prompt + response, "max_tokens": 0, "echo": True,
                    "logprobs": top_k_logprobs, "return_tokens_as_token_ids": True}
            payload = self._post(body)
            logprobs = payload["choices"][0].get("logprobs") or {}
            tops = (logprobs.get("top_logprobs") or [])[len(prompt) : len(prompt) + len(response)]
            if len(tops) != len(response) or any(t is None for t in tops):
                raise ServerError(f"{self.base_url} did not return prompt logprobs for echo scoring")
            fake = {"choices": [{"text": "", "logprobs": {"tokens": [f"token_id:{t}" for t in response], "top_logprobs": tops}}]}
            return self._parse(prompt, fake, top_k_logprobs)

        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(one, pairs))

    def _post(self, body: dict) -> dict:
        request = urllib.request.Request(f"{self.base_url}/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as err:
                if err.code != 429 and err.code < 500 or attempt == self.retries:
                    raise ServerError(f"{self.base_url}/completions answered HTTP {err.code}: {err.read()[:300]!r}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
                if attempt == self.retries:
                    raise ServerError(f"{self.base_url}/completions unreachable after {attempt + 1} tries: {err}") from None
            time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    def _token_id(self, token: str) -> int:
        if token.startswith("token_id:"):
            return int(token.removeprefix("token_id:"))
        token_id = self.tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == self.tokenizer.unk_token_id:
            raise ServerError(f"server token {token!r} is not in the local tokenizer; is the server the same teacher?")
        return token_id

    def _parse(self, prompt_ids: list[int], payload: dict, k: int | None) -> Generation:
        choice = payload["choices"][0]
        logprobs = choice.get("logprobs") or {}
        if k is not None and not logprobs.get("top_logprobs"):
            raise ServerError(
                f"{self.base_url} returned no logprobs; the teacher needs a server that returns top-k logprobs "
                "for completions (vLLM: start it with --max-logprobs >= teacher.top_k)"
            )
        tokens = logprobs.get("tokens") or []
        response_ids = [self._token_id(t) for t in tokens]
        gen = Generation(list(prompt_ids), response_ids, choice.get("text", "").strip())
        if k is not None:
            ranked = [sorted(top.items(), key=lambda kv: -kv[1])[:k] for top in logprobs["top_logprobs"]]
            if any(len(r) < k for r in ranked):
                raise ServerError(f"{self.base_url} returned fewer than teacher.top_k={k} logprobs per token")
            gen.topk_ids = np.array([[self._token_id(t) for t, _ in r] for r in ranked], dtype=np.int64).reshape(-1, k)
            gen.topk_logprobs = np.array([[lp for _, lp in r] for r in ranked], dtype=np.float32).reshape(-1, k)
        return gen
