"""A teacher behind any OpenAI-compatible completions server (vLLM, SGLang, llama.cpp's server, ...).

Requests go through the official `openai` SDK: its timeouts, and its retries
with exponential backoff on connection errors, 408, 429 and 5xx (honouring
`Retry-After`); requests run `concurrency` at a time. Prompts are sent as
token ids (the chat template is applied locally, so the server sees exactly
the tokens the student will train on) to `POST {base_url}/completions` with
`logprobs: k`. A server whose completions take only text (llama-cpp-python's
refuses a token list) gets the same ids decoded back to text, special
tokens included, which a byte-level BPE tokenizer with the same vocabulary and
merges encodes to the same ids; echo scoring is refused there, since the
boundary between prompt and response would be the server's tokenization.

Returned tokens become ids (`positions`, `token_pieces`): vLLM's
`return_tokens_as_token_ids` extension makes every token read `token_id:N`;
llama.cpp's server sends each token's `id` (and `bytes`) in the chat shape;
other servers return each token's text, mapped back through the tokenizer's
byte-level alphabet. Truncation is the server's `finish_reason: length`.

Before any generation with logprobs, one 1-token request checks that the
server returns `teacher.top_k` of them: a server that caps them (OpenAI's API
at 5, vLLM at `--max-logprobs`, 20 by default) is refused naming the cap.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import openai
from tqdm.auto import tqdm

from fastdistill.inference.chat import encode_chat_prompt
from fastdistill.inference.token_pieces import TOKEN_ID_PREFIX, LossyPiece, PieceMapper
from fastdistill.inference.types import Generation, GenerationStats

T = TypeVar("T")
TOKEN_IDS_EXTRA = {"return_tokens_as_token_ids": True}  # vLLM; other servers ignore unknown fields
# Sample as the hf backend does: llama-cpp-python otherwise applies its own defaults (repeat_penalty 1.1, min_p 0.05),
# and its temperature-0 reply was then not the argmax of the logprobs it returned. Its top_k 40 stays (it takes 0 for
# off, which older vLLM refuses): greedy decoding is unaffected, sampling keeps its 40 most likely tokens.
PLAIN_SAMPLING_EXTRA = {"repeat_penalty": 1.0, "min_p": 0.0}
SERVER_EXTRA = {**TOKEN_IDS_EXTRA, **PLAIN_SAMPLING_EXTRA}
_CAP = re.compile(r"(?:max(?:imum)?(?:\s+allowed)?|at\s+most|less\s+than\s+or\s+equal\s+to|<=|≤|cannot\s+exceed|up\s+to)"
                  r"\D{0,12}?(\d+)", re.I)


class ServerError(RuntimeError):
    """The server failed or answered something a teacher cannot be built from."""


def make_client(base_url: str, *, api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 120.0,
                max_retries: int = 3) -> openai.OpenAI:
    """The one way this project builds a client for a served model (teacher and judge alike).

    Self-hosted servers (vLLM, llama.cpp) ignore the key, but the SDK insists on one: "EMPTY" when the variable is unset.
    """
    return openai.OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env) or "EMPTY", timeout=timeout_s,
                         max_retries=max_retries)


def call(client: openai.OpenAI, endpoint: str, request: Callable[[], T]) -> T:
    """`request()` with the SDK's errors turned into one line naming the URL."""
    url = f"{str(client.base_url).rstrip('/')}/{endpoint}"
    try:
        return request()
    except openai.APIConnectionError as err:
        raise ServerError(f"{url} unreachable after {client.max_retries + 1} tries: {err}") from None
    except openai.APIStatusError as err:
        raise ServerError(f"{url} answered HTTP {err.status_code}: {_message(err)[:300]}") from None


def _message(err: openai.APIStatusError) -> str:
    body = err.body if isinstance(err.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    if not inner.get("message") and isinstance(body.get("detail"), list):  # FastAPI's 422 (llama-cpp-python)
        return "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in body["detail"]
                         if isinstance(d, dict))
    return str(inner.get("message") or body.get("detail") or err.message)


def logprobs_cap(message: str) -> int | None:
    """The cap a server's "too many logprobs" error names (vLLM: "... greater than max allowed: 20")."""
    match = _CAP.search(message)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Returned:
    """One token as a server returned it: its text, and its id or bytes where the server sent them."""

    piece: str
    id: int | None = None
    raw: list[int] | None = None


def _field(item, name: str):
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _returned(item) -> Returned:
    token_id = _field(item, "id")
    return Returned(_field(item, "token") or "", token_id if isinstance(token_id, int) else None, _field(item, "bytes"))


def positions(logprobs) -> list[tuple[Returned, list[tuple[Returned, float]]]]:
    """Per response token: the returned token and its top alternatives with their logprobs, from either wire shape.

    Completions (OpenAI, vLLM, SGLang): `tokens` and `top_logprobs` dicts keyed by token text. llama.cpp's
    server answers completions in the chat shape instead: `content` entries whose `top_logprobs` carry each
    alternative's `id` and `bytes` (the SDK keeps that unknown field as plain dicts).
    """
    if logprobs is None:
        return []
    content = _field(logprobs, "content")
    if content:
        return [(_returned(e), [(_returned(a), float(_field(a, "logprob"))) for a in _field(e, "top_logprobs") or []])
                for e in content]
    tokens, tops = logprobs.tokens or [], logprobs.top_logprobs or []
    return [(Returned(t), [(Returned(p), lp) for p, lp in (top or {}).items()])
            for t, top in zip(tokens, tops + [None] * (len(tokens) - len(tops)))]


def probe_logprobs(client: openai.OpenAI, model: str, k: int, extra: dict = SERVER_EXTRA) -> tuple[dict, bool]:
    """One 1-token request asking for `k` logprobs: (the request extras the server takes, whether it returns token ids).

    A server that caps logprobs below `k` is refused naming the cap, whether it says so (vLLM's 400, OpenAI's
    API) or silently returns fewer (llama.cpp's server).
    """
    base_url = str(client.base_url).rstrip("/")

    def probe():
        try:
            return client.completions.create(model=model, prompt="Hi", max_tokens=1, temperature=0.0, logprobs=k,
                                             extra_body=extra)
        except openai.BadRequestError as err:  # the answer to read, not a failure to report as is
            return err

    reply = call(client, "completions", probe)
    if isinstance(reply, openai.BadRequestError):
        text = _message(reply)
        if extra and any(key in text for key in extra):  # a strict server refusing vLLM's extension or a field
            return probe_logprobs(client, model, k, {})
        if "logprob" in text.lower():
            cap = logprobs_cap(text)
            named = f"caps logprobs at {cap}" if cap is not None else "refuses that many logprobs"
            raise ServerError(f"{base_url} {named}, below teacher.top_k={k} (server said: {text[:200]}); "
                              "lower teacher.top_k or raise the server's limit (vLLM: --max-logprobs)")
        raise ServerError(f"{base_url}/completions answered HTTP 400 to a 1-token probe: {text[:300]}")
    found = positions(reply.choices[0].logprobs)
    if not found or not found[0][1]:
        raise ServerError(f"{base_url} returned no logprobs; the teacher needs a server that returns top-k "
                          "logprobs for completions (vLLM: start it with --max-logprobs >= teacher.top_k)")
    if len(found[0][1]) < k:
        raise ServerError(f"{base_url} caps logprobs at {len(found[0][1])}, below teacher.top_k={k}: "
                          "lower teacher.top_k or raise the server's limit (vLLM: --max-logprobs)")
    first = found[0][0]
    return dict(extra), first.id is not None or first.piece.startswith(TOKEN_ID_PREFIX)


def check_served_teacher(config) -> None:
    """The preflight for `teacher.backend: openai` (a `TeacherConfig`): reachable, and returns `top_k` logprobs."""
    client = make_client(config.base_url, api_key_env=config.api_key_env, timeout_s=config.timeout_s,
                         max_retries=config.max_retries)
    probe_logprobs(client, config.api_model or config.model, config.top_k)


class OpenAIBackend:
    def __init__(self, base_url: str, model: str, tokenizer, *, concurrency: int = 4, max_retries: int = 3,
                 timeout_s: float = 120.0, api_key_env: str = "OPENAI_API_KEY", client: openai.OpenAI | None = None):
        self.base_url, self.model, self.tokenizer = base_url.rstrip("/"), model, tokenizer
        self.client = client or make_client(base_url, api_key_env=api_key_env, timeout_s=timeout_s,
                                            max_retries=max_retries)
        self.concurrency = concurrency
        self.pieces = PieceMapper(tokenizer)
        self.extra: dict = dict(SERVER_EXTRA)
        self.token_ids: bool | None = None  # whether the server speaks the token-id extension (known after the probe)
        self.text_prompts: bool | None = None  # whether the server refuses token-id prompts (known after `check_prompts`)
        self._checked_k = 0
        self.stats = GenerationStats()

    def _complete(self, **kwargs):
        return call(self.client, "completions",
                    lambda: self.client.completions.create(model=self.model, extra_body=self.extra, **kwargs))

    def check_logprobs(self, k: int) -> None:
        """Refuse, before any generation, a server that returns fewer than `k` logprobs (`probe_logprobs`)."""
        if k > self._checked_k:
            self.extra, self.token_ids = probe_logprobs(self.client, self.model, k)
            self._checked_k = k

    def check_prompts(self, ids: list[int]) -> None:
        """Learn, with one 1-token request, whether the server takes prompts as token ids or only as text.

        llama-cpp-python's server validates `prompt` as a string and answers a token list with HTTP 500 (its
        handler turns FastAPI's 422 into a 500) naming `prompt` and "valid string"; any other refusal is reported.
        """
        if self.text_prompts is not None:
            return

        def probe():
            try:
                return self.client.completions.create(model=self.model, prompt=ids, max_tokens=1, temperature=0.0,
                                                      extra_body=self.extra)
            except openai.APIStatusError as err:
                text = _message(err).lower()
                if err.status_code in (400, 422, 500) and "prompt" in text and "string" in text:
                    return err
                raise

        self.text_prompts = isinstance(call(self.client, "completions", probe), openai.APIStatusError)

    def _prompt(self, ids: list[int]) -> list[int] | str:
        # special tokens stay as text: the server must parse them (llama-cpp-python tokenizes with special=True)
        return self.tokenizer.decode(ids, skip_special_tokens=False) if self.text_prompts else ids

    def generate(self, prompts: list[str], *, max_new_tokens: int, batch_size: int = 16, temperature: float = 0.0,
                 top_p: float = 1.0, top_k_logprobs: int | None = None, seed: int = 0,
                 desc: str = "generating") -> list[Generation]:
        """One response per prompt, in input order (`batch_size` is the server's business)."""
        if top_k_logprobs is not None:
            self.check_logprobs(top_k_logprobs)
        encoded = [encode_chat_prompt(self.tokenizer, p) for p in prompts]
        if encoded:
            self.check_prompts(encoded[0][-1:])
        started = time.perf_counter()

        def one(i: int) -> Generation:
            extra = {} if top_k_logprobs is None else {"logprobs": top_k_logprobs}
            reply = self._complete(prompt=self._prompt(encoded[i]), max_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                   seed=seed + i, **extra)  # its own seed: n samples of one prompt must differ
            return self._parse(encoded[i], reply.choices[0], top_k_logprobs, f"prompt {i}")

        with ThreadPoolExecutor(self.concurrency) as pool:
            results = list(tqdm(pool.map(one, range(len(prompts))), total=len(prompts), desc=desc, unit="prompt"))
        self.stats.new_tokens += sum(len(g.response_ids) for g in results)
        self.stats.seconds += time.perf_counter() - started
        self.stats.batches += 1
        return results

    def score(self, pairs: list[tuple[list[int], list[int]]], *, top_k_logprobs: int, batch_size: int = 16) -> list[Generation]:
        """Teacher-forced top-k logprobs of given responses: `echo` with no new tokens returns the prompt's logprobs."""
        self.check_logprobs(top_k_logprobs)
        if pairs:
            self.check_prompts(list(pairs[0][0])[-1:])
        if self.text_prompts:
            raise ServerError(f"{self.base_url} takes prompts only as text, so it cannot score given responses: "
                              "echo scoring needs token-id prompts (the prompt/response boundary must be ours); "
                              "use a server that accepts them (vLLM) for on-policy objectives and scoring")

        def one(pair: tuple[list[int], list[int]]) -> Generation:
            prompt, response = list(pair[0]), list(pair[1])
            reply = self._complete(prompt=prompt + response, max_tokens=0, echo=True, logprobs=top_k_logprobs)
            tops = [alternatives for _, alternatives in positions(reply.choices[0].logprobs)]
            tops = tops[len(prompt) : len(prompt) + len(response)]
            if len(tops) != len(response) or not all(tops):
                raise ServerError(f"{self.base_url} did not return prompt logprobs for echo scoring")
            gen = Generation(prompt, response, self.tokenizer.decode(response, skip_special_tokens=True))
            gen.topk_ids, gen.topk_logprobs = self._top_k(tops, top_k_logprobs, "a scored response")
            return gen

        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(one, pairs))

    def _id(self, token: Returned, where: str) -> int:
        if token.id is not None:
            return token.id
        try:
            return self.pieces(token.piece, token.raw)
        except LossyPiece as err:
            raise ServerError(f"{self.base_url}, {where}: {err}; use a server with token ids (vLLM) or byte fields") from None
        except KeyError:
            raise ServerError(f"{self.base_url}, {where}: server token {token.piece!r} is not in the local tokenizer; "
                              "is the server the same teacher?") from None

    def _top_k(self, tops: list[list[tuple[Returned, float]]], k: int, where: str) -> tuple[np.ndarray, np.ndarray]:
        ranked = [sorted(top, key=lambda alt: -alt[1])[:k] for top in tops]
        if any(len(r) < k for r in ranked):
            raise ServerError(f"{self.base_url} returned fewer than teacher.top_k={k} logprobs for a token of {where} "
                              "(distinct tokens that decode to the same text collapse without token ids)")
        ids = np.array([[self._id(t, where) for t, _ in r] for r in ranked], dtype=np.int64).reshape(-1, k)
        return ids, np.array([[lp for _, lp in r] for r in ranked], dtype=np.float32).reshape(-1, k)

    def _parse(self, prompt_ids: list[int], choice, k: int | None, where: str) -> Generation:
        found = positions(choice.logprobs)
        if k is not None and not (found and all(alternatives for _, alternatives in found)):
            raise ServerError(
                f"{self.base_url} returned no logprobs; the teacher needs a server that returns top-k logprobs "
                "for completions (vLLM: start it with --max-logprobs >= teacher.top_k)"
            )
        if found:
            response_ids = [self._id(token, where) for token, _ in found]
        else:  # no logprobs asked for (synthesis): only the text is used; its ids are the local tokenization
            response_ids = self.tokenizer(choice.text, add_special_tokens=False)["input_ids"]
        gen = Generation(list(prompt_ids), response_ids, choice.text.strip(), truncated=choice.finish_reason == "length")
        if k is not None:
            gen.topk_ids, gen.topk_logprobs = self._top_k([alternatives for _, alternatives in found], k, where)
        return gen
