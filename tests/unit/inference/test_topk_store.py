"""The compact top-k store: quantization, round trip, and top-k extraction against torch.topk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from fastdistill.inference.topk_store import (
    LOGPROB_STEP,
    TeacherMeta,
    TeacherOutputs,
    dequantize_logprobs,
    id_dtype,
    quantize_logprobs,
    read_manifest,
)


def _outputs(n_rows=5, k=4, vocab=49152, seed=0, lengths=(0, 7)):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_rows):
        length = int(rng.integers(*lengths))
        ids = rng.integers(0, vocab, size=(length, k)).astype(np.int64)
        lps = -np.sort(rng.exponential(2.0, size=(length, k)).astype(np.float32), axis=1)
        rows.append({"id": f"r{i}", "split": "train" if i % 2 else "eval", "category": "c", "prompt": f"p{i}",
                     "reference": None if i % 3 else "ref", "prompt_ids": [1, 2, 3], "response_ids": ids[:, 0].tolist(),
                     "response_text": f"t{i}", "topk_ids": ids, "topk_logprobs": lps})
    return TeacherOutputs(pd.DataFrame(rows), TeacherMeta("tiny:t", k, 0.0, 8, "sha", vocab_size=vocab))


def test_id_dtype_is_the_smallest_that_holds_the_vocabulary():
    assert id_dtype(200) == np.uint8
    assert id_dtype(49152) == np.uint16 and id_dtype(65536) == np.uint16
    assert id_dtype(65537) == np.uint32 and id_dtype(0) == np.uint32


def test_quantization_error_is_at_most_half_a_step_at_any_depth():
    lps = -np.cumsum(np.random.default_rng(0).exponential(0.5, size=(500, 64)), axis=1)  # down to about -32 nats
    back = dequantize_logprobs(quantize_logprobs(lps))
    assert back.shape == lps.shape
    assert np.abs(back - lps).max() <= LOGPROB_STEP / 2 + 1e-6


def test_only_a_gap_wider_than_255_steps_is_clipped():
    back = dequantize_logprobs(quantize_logprobs(np.array([[-0.5, -40.0, -40.5]])))
    assert back[0].tolist() == pytest.approx([-0.5, -0.5 - 255 * LOGPROB_STEP, -1.0 - 255 * LOGPROB_STEP])


def test_unsorted_logprobs_are_refused():
    with pytest.raises(ValueError, match="descending order"):
        quantize_logprobs(np.array([[-2.0, -1.0]]))


def test_round_trip_keeps_ids_exactly_and_logprobs_within_half_a_step(tmp_path):
    original = _outputs(n_rows=7)
    original.save(tmp_path, shard_rows=3)
    manifest = read_manifest(tmp_path)
    assert manifest["shards"] == ["shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet"]
    assert manifest["quantization"]["ids"] == "uint16"
    loaded = TeacherOutputs.load(tmp_path)
    assert loaded.meta == original.meta
    for a, b in zip(original.frame.itertuples(), loaded.frame.itertuples()):
        assert (a.id, a.split, a.prompt_ids, a.response_ids) == (b.id, b.split, b.prompt_ids, b.response_ids)
        assert b.reference == (None if pd.isna(a.reference) else a.reference)
        assert b.topk_ids.dtype == np.int64 and np.array_equal(a.topk_ids, b.topk_ids)
        assert b.topk_logprobs.shape == a.topk_logprobs.shape
        assert np.abs(a.topk_logprobs - b.topk_logprobs).max(initial=0) <= LOGPROB_STEP / 2 + 1e-6


def test_store_is_compact(tmp_path):
    outputs = _outputs(n_rows=60, k=20, lengths=(30, 60))
    outputs.save(tmp_path)
    stored = sum(p.stat().st_size for p in tmp_path.glob("*.parquet"))
    kept_logits = sum(a.size for a in outputs.frame["topk_ids"])
    # uint16 id + uint8 logprob = 3 bytes; random ids are the worst case for compression (fp32 pairs: 8 bytes)
    assert stored / kept_logits < 3.3


def test_unsupported_schema_version_is_refused_with_the_file_named(tmp_path):
    _outputs().save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["meta"]["schema_version"] = 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"manifest.json: schema_version 1 is not the supported 2"):
        TeacherOutputs.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        TeacherOutputs.load(tmp_path / "missing")


def test_topk_extraction_equals_torch_topk_of_the_models_own_logits(tiny_teacher_dir):
    from fastdistill.inference.hf import HFBackend

    backend = HFBackend(tiny_teacher_dir)
    gen = backend.generate(["Name a color."], max_new_tokens=6, top_k_logprobs=5)[0]
    ids = torch.tensor([gen.prompt_ids + gen.response_ids])
    with torch.no_grad():
        logits = backend.model(ids).logits[0, len(gen.prompt_ids) - 1 : -1]
    top = torch.log_softmax(logits.float(), -1).topk(5, -1)
    assert np.array_equal(gen.topk_ids, top.indices.numpy())
    assert np.allclose(gen.topk_logprobs, top.values.numpy(), atol=1e-4)
    assert gen.topk_ids[:, 0].tolist() == gen.response_ids  # greedy: the sampled token is the top-1
