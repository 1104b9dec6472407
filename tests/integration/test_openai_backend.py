"""The openai backend (teacher) and the served judge, through the `openai` SDK, against a stub server.

The server (`openai_stub.StubServer`) is a real HTTP server on 127.0.0.1 in this process, speaking the OpenAI
wire format. It stands in for a served teacher because a real vLLM server needs a GPU, and this machine has
none; its completions come from a tiny in-process model, so the backend's results are compared with the hf
backend on the same model.
"""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import ByteLevelBPETokenizer
from transformers import PreTrainedTokenizerFast

from fastdistill.config import EvaluationConfig
from fastdistill.evaluation import judge
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.openai_server import OpenAIBackend, ServerError, logprobs_cap
from fastdistill.inference.token_pieces import LossyPiece, PieceMapper, is_byte_level
from tests.integration.openai_stub import StubServer, text_piece, token_bytes


@pytest.fixture()
def hf(tiny_teacher_dir):
    return HFBackend(tiny_teacher_dir)


PROMPTS = ["Name a color.", "What is two plus two?", "Say hello in French."]


def _expected(hf, k: int, new_tokens: int = 6):
    return HFBackend.from_model(hf.model, hf.tokenizer).generate(PROMPTS, max_new_tokens=new_tokens, batch_size=1,
                                                                 top_k_logprobs=k)


@pytest.mark.parametrize("token_ids", [True, False], ids=["vllm-token-ids", "decoded-text-pieces"])
def test_openai_backend_matches_the_hf_backend_on_the_same_model(hf, token_ids):
    with StubServer(hf, token_ids=token_ids) as server:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer, concurrency=2)
        got = remote.generate(PROMPTS, max_new_tokens=6, top_k_logprobs=4)
    assert remote.token_ids is token_ids  # the probe saw whether the server speaks the extension
    assert all(b["return_tokens_as_token_ids"] is True for b in server.bodies)
    # the server's own sampling defaults off (llama-cpp-python's repeat_penalty 1.1 broke greedy decoding)
    assert all(b["repeat_penalty"] == 1.0 and b["min_p"] == 0.0 for b in server.bodies)
    pieces = [t for r in server.replies if r["choices"][0]["logprobs"] for t in r["choices"][0]["logprobs"]["tokens"]]
    assert all(p.startswith("token_id:") for p in pieces) is token_ids
    _same_as_hf(hf, remote, got)


def test_llama_cpp_shaped_logprobs_with_ids_and_bytes_match_the_hf_backend(hf):
    with StubServer(hf, llama_cpp=True) as server:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer, concurrency=2)
        got = remote.generate(PROMPTS, max_new_tokens=6, top_k_logprobs=4)
    assert "content" in server.replies[-1]["choices"][0]["logprobs"] and remote.token_ids is True
    _same_as_hf(hf, remote, got)


def test_a_server_taking_only_text_prompts_gets_the_same_tokens_as_text(hf):
    """llama-cpp-python's server refuses a token-id prompt (a 500 naming `prompt`): the backend learns so once and
    sends text. (No retries here: the SDK would retry the 500 with backoff first, as it does against the real one.)"""
    with StubServer(hf, token_ids=False, text_prompts=True) as server:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer, concurrency=2, max_retries=0)
        got = remote.generate(PROMPTS, max_new_tokens=6, top_k_logprobs=4)
        with pytest.raises(ServerError, match=r"takes prompts only as text, so it cannot score"):
            remote.score([(got[0].prompt_ids, got[0].response_ids)], top_k_logprobs=4)
    assert remote.text_prompts is True
    generating = [b for b in server.bodies if b.get("max_tokens") == 6]
    assert [b["prompt"] for b in generating] and all(isinstance(b["prompt"], str) for b in generating)
    assert sum(isinstance(b["prompt"], list) for b in server.bodies) == 1  # the one probe
    _same_as_hf(hf, remote, got)


def _same_as_hf(hf, remote, got):
    for a, b in zip(got, _expected(hf, 4)):
        assert a.prompt_ids == b.prompt_ids and a.response_ids == b.response_ids
        assert np.array_equal(a.topk_ids, b.topk_ids)
        assert np.allclose(a.topk_logprobs, b.topk_logprobs, atol=1e-5)
    assert remote.stats.new_tokens == sum(len(g.response_ids) for g in got)


def test_truncation_is_the_servers_finish_reason(hf):
    with StubServer(hf) as server:
        got = OpenAIBackend(server.url, "tiny", hf.tokenizer).generate(PROMPTS, max_new_tokens=3, top_k_logprobs=2)
    eos = hf.tokenizer.eos_token_id
    # the random tiny teacher runs to the budget: every reply comes back `finish_reason: length`
    assert [g.truncated for g in got] == [eos not in g.response_ids for g in got] == [True] * len(PROMPTS)
    with StubServer(hf) as server:
        server.complete = _finishing(server.complete, "stop")
        stopped = OpenAIBackend(server.url, "tiny", hf.tokenizer).generate(PROMPTS[:1], max_new_tokens=3)
    assert stopped[0].truncated is False


def _finishing(complete, reason: str):
    def patched(body):
        status, payload = complete(body)
        if status == 200 and body.get("max_tokens"):
            payload["choices"][0]["finish_reason"] = reason
        return status, payload
    return patched


def test_scoring_given_responses_matches_generation_and_the_hf_backend(hf):
    own = hf.generate(PROMPTS, max_new_tokens=6, batch_size=1, top_k_logprobs=3)
    pairs = [(g.prompt_ids, g.response_ids) for g in own]
    local = hf.score(pairs, top_k_logprobs=3)
    with StubServer(hf, token_ids=False) as server:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer).score(pairs, top_k_logprobs=3)
    for g, a, b in zip(own, local, remote):
        assert np.array_equal(g.topk_ids, a.topk_ids) and np.allclose(g.topk_logprobs, a.topk_logprobs, atol=1e-4)
        assert np.array_equal(a.topk_ids, b.topk_ids) and np.allclose(a.topk_logprobs, b.topk_logprobs, atol=1e-5)


@pytest.mark.parametrize("silent", [False, True], ids=["vllm-400", "silently-capped"])
def test_a_server_capping_logprobs_is_refused_before_any_generation(hf, silent):
    with StubServer(hf, max_logprobs=5, silent_cap=silent) as server:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer, max_retries=0)
        with pytest.raises(ServerError, match=r"caps logprobs at 5, below teacher.top_k=8") as err:
            remote.generate(PROMPTS, max_new_tokens=4, top_k_logprobs=8)
    assert server.generations == (1 if silent else 0) and server.requests == 1  # only the 1-token probe
    assert "\n" not in str(err.value)
    assert logprobs_cap("Requested sample logprobs of 8, which is greater than max allowed: 5") == 5
    assert logprobs_cap("Invalid value for 'top_logprobs': must be less than or equal to 20.") == 20


def test_a_strict_server_refusing_the_extra_fields_gets_plain_requests(hf):
    """vLLM's token-id field and llama-cpp-python's sampling fields are dropped where a server refuses them."""
    with StubServer(hf, token_ids=False, strict=True) as server:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer, max_retries=0)
        got = remote.generate(PROMPTS[:1], max_new_tokens=4, top_k_logprobs=2)
    assert remote.extra == {} and remote.token_ids is False and len(got[0].response_ids) == 4
    assert [sorted(set(b) & {"return_tokens_as_token_ids", "repeat_penalty", "min_p"}) for b in server.bodies] == [
        ["min_p", "repeat_penalty", "return_tokens_as_token_ids"]] + [[]] * (len(server.bodies) - 1)


def test_503s_are_retried_by_the_sdk(hf):
    with StubServer(hf, fail_first=2) as server:
        got = OpenAIBackend(server.url, "tiny", hf.tokenizer, max_retries=3).generate(
            PROMPTS[:1], max_new_tokens=4, top_k_logprobs=2)
    # 2 x 503, then the logprobs probe, the prompt-form probe and the generation
    assert server.requests == 5 and len(got[0].response_ids) == 4
    with StubServer(hf, fail_first=5) as server:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer, max_retries=1)
        with pytest.raises(ServerError, match=r"/v1/completions answered HTTP 503: the server is overloaded"):
            remote.generate(PROMPTS[:1], max_new_tokens=4, top_k_logprobs=2)
    assert server.requests == 2


def test_a_server_slower_than_the_timeout_is_retried_then_named(hf):
    with StubServer(hf, stall_s=3.0) as server:
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer, max_retries=1, timeout_s=0.2)
        with pytest.raises(ServerError, match=r"/v1/completions unreachable after 2 tries: Request timed out"):
            remote.generate(PROMPTS[:1], max_new_tokens=2, top_k_logprobs=2)


def test_server_without_logprobs_gets_a_clear_error(hf):
    with StubServer(hf) as server:
        server.complete = _without_logprobs(server.complete)
        remote = OpenAIBackend(server.url, "tiny", hf.tokenizer, max_retries=0)
        with pytest.raises(ServerError, match="returned no logprobs"):
            remote.generate(PROMPTS[:1], max_new_tokens=4, top_k_logprobs=2)


def _without_logprobs(complete):
    def patched(body):
        status, payload = complete(body)
        payload["choices"][0]["logprobs"] = None
        return status, payload
    return patched


def test_unreachable_server_names_the_url(hf):
    remote = OpenAIBackend("http://127.0.0.1:9/v1", "tiny", hf.tokenizer, max_retries=1)
    with pytest.raises(ServerError, match=r"http://127.0.0.1:9/v1/completions unreachable after 2 tries"):
        remote.generate(PROMPTS[:1], max_new_tokens=2, top_k_logprobs=2)


SENTENCES = ["The café serves naïve tourists in 東京 every day.", "A naïve café owner moved to 東京.",
             "Ünïcödé text, emoji 🙂 and plain words mix here.", "the the the café café 東京 東京"] * 3


def _byte_level_bpe() -> PreTrainedTokenizerFast:
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(SENTENCES, vocab_size=320, min_frequency=1, special_tokens=["<|endoftext|>"])
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>")


def test_returned_token_strings_map_to_their_ids_in_a_byte_level_bpe_vocabulary():
    tokenizer = _byte_level_bpe()
    mapper = PieceMapper(tokenizer)
    assert is_byte_level(tokenizer)
    ids = tokenizer("A naïve café in 東京 🙂", add_special_tokens=False)["input_ids"]
    assert b"".join(token_bytes(tokenizer, i) for i in ids) == "A naïve café in 東京 🙂".encode()
    pieces = [text_piece(tokenizer, i) for i in ids]
    assert " caf" in pieces or " café" in pieces  # decoded text, not the vocabulary's "Ġcafé"
    assert any(p.startswith("bytes:") for p in pieces)  # 東京 and 🙂 split inside their UTF-8 bytes
    assert [mapper(p) for p in pieces] == ids
    assert tokenizer.convert_tokens_to_ids(pieces[1]) in (None, tokenizer.unk_token_id)  # naive lookup misses " naïve"
    vocab = range(len(tokenizer))
    assert [mapper(text_piece(tokenizer, i)) for i in vocab] == list(vocab)  # every id, from the server's text
    assert [mapper("", list(token_bytes(tokenizer, i))) for i in vocab] == list(vocab)  # from a `bytes` field
    with pytest.raises(LossyPiece):
        mapper("")  # llama-cpp-python's rendering of a partial character: no single id fits
    with pytest.raises(LossyPiece):
        mapper("\ufffd")


def test_the_smollm2_vocabulary_maps_back_from_text_pieces(hf):
    mapper, tokenizer = PieceMapper(hf.tokenizer), hf.tokenizer
    assert mapper(" Paris") == tokenizer.convert_tokens_to_ids("ĠParis")
    # A token that *is* U+FFFD reads like a lossy rendering of a partial character: refused, never guessed.
    vocab = [i for i in range(len(tokenizer)) if "\ufffd" not in text_piece(tokenizer, i)]
    assert len(tokenizer) - len(vocab) <= 2
    assert [mapper(text_piece(tokenizer, i)) for i in vocab] == vocab


def _longer_is_better(first: str, second: str) -> float:
    return 0.8 if len(first) > len(second) else 0.2


def _always_first(first: str, second: str) -> float:
    return 0.9


def _served(url: str):
    config = EvaluationConfig(judge={"backend": "openai", "base_url": url, "model": "strong-judge", "concurrency": 2})
    grader, name = judge.judge_for(config, teacher_backend=None, teacher_spec="tiny:teacher")
    assert isinstance(grader, judge.ServedJudge) and name == "strong-judge"
    return grader


JUDGED = (["q1", "q2", "q3", "q4"], ["a long student answer", "short", "another long one", "tiny"],
          ["mid one", "a longer teacher answer", "x", "a long teacher answer"])


@pytest.mark.parametrize("logprobs", [True, False], ids=["from-logprobs", "from-the-reply-text"])
def test_a_served_judge_is_asked_in_both_orders(logprobs):
    with StubServer(judge=_longer_is_better, judge_logprobs=logprobs) as server:
        result = judge.pairwise(_served(server.url), *JUDGED)
    assert server.requests == 8 and all(b["model"] == "strong-judge" for b in server.bodies)
    assert [p["outcome"] for p in result.pairs] == [1.0, 0.0, 1.0, 0.0]
    assert result.win_rate == 0.5 and result.consistency == 1.0 and result.first_position_rate == 0.5
    if logprobs:  # P(A) from the first token's alternatives, " A" counted as "A"; "The" is neither
        assert result.pairs[0]["p_student_as_a"] == pytest.approx((0.8 + 1e-4) / (0.8 + 1e-4 + 0.2))


def test_a_served_judge_that_follows_the_position_shows_in_the_bias_figure():
    with StubServer(judge=_always_first) as server:
        result = judge.pairwise(_served(server.url), *JUDGED)
    assert result.first_position_rate == 1.0 and result.consistency == 0.0 and result.win_rate == 0.5


def test_the_evaluation_suite_reports_a_served_judges_position_bias(hf):
    import pandas as pd

    from fastdistill.config import TeacherConfig
    from fastdistill.evaluation.suite import evaluate_student
    from fastdistill.inference.labelling import label

    rows = pd.DataFrame({"id": ["a", "b", "c"], "split": ["test"] * 3, "category": ["default"] * 3,
                         "prompt": PROMPTS, "reference": ["red", "four", "bonjour"]})
    outputs = label(hf, rows, TeacherConfig(model="tiny:teacher", max_new_tokens=4, top_k=2))
    with StubServer(judge=_always_first) as server:
        config = EvaluationConfig(max_new_tokens=4, judge_pairs=2, efficiency_prompts=0, judge={
            "backend": "openai", "base_url": server.url, "model": "strong-judge"})
        grader, name = judge.judge_for(config, hf, "tiny:teacher")
        result = evaluate_student(hf, outputs, config, judge_backend=grader, judge_name=name,
                                  teacher_name="tiny:teacher")
    assert server.requests == 4  # 2 pairs x both orders
    scores = result.scores
    assert scores.per_example["judge_first_position_rate"] == [1.0, 1.0, None]
    assert scores.per_example["judge_win_rate"] == [0.5, 0.5, None] and scores.aggregates["judge_pairs"] == 2
    assert [w.code for w in result.warnings if "judge" in w.code] == ["uninformative_judge"]  # not self_judge


def test_vllm_backend_import_guard_is_clear_on_cpu_machines(tiny_teacher_dir):
    from fastdistill.inference.vllm_offline import BackendUnavailable, VLLMBackend

    with pytest.raises(BackendUnavailable, match="teacher.backend 'vllm' needs"):
        VLLMBackend(tiny_teacher_dir, top_k=4)
