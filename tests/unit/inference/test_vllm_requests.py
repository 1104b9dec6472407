"""The vLLM backend's requests, built without vllm (a GPU-only package not installed here)."""

from fastdistill.inference.vllm_offline import sampling_kwargs


def test_every_request_gets_its_own_seed_so_samples_of_one_prompt_differ():
    # self-consistency sends one prompt n times: a shared seed made the n samples identical (agreement always 1)
    kwargs = sampling_kwargs(3, max_new_tokens=16, temperature=0.7, top_p=0.95, top_k_logprobs=None, seed=202)
    assert [k["seed"] for k in kwargs] == [202, 203, 204]
    assert all(k == {**kwargs[0], "seed": k["seed"]} for k in kwargs)
    assert kwargs[0] == {"max_tokens": 16, "temperature": 0.7, "top_p": 0.95, "logprobs": None, "seed": 202}
    assert sampling_kwargs(0, max_new_tokens=1, temperature=0.0, top_p=1.0, top_k_logprobs=4, seed=0) == []
