"""Text and calibration metrics of the evaluation suite, as plain functions on plain values.

Each follows its usual definition so numbers compare with the literature:
ROUGE-L F1 (`rouge-score`, stemmed), exact match after SQuAD-style answer
normalisation, numeric match on the last number of each text, expected
calibration error with equal-width confidence bins (Guo et al., 2017),
Distinct-n (Li et al., 2016: distinct n-grams over all n-grams of a corpus)
and Self-BLEU (Zhu et al., 2018: each text's BLEU against all the others,
sacrebleu's sentence BLEU with its default smoothing).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence

import numpy as np
from rouge_score import rouge_scorer, tokenizers

# An explicit tokenizer: with none, rouge_score logs through absl, which calls logging.basicConfig()
# on a bare root logger and so doubles every ZenML log line for the rest of the run.
_SCORER = rouge_scorer.RougeScorer(["rougeL"], tokenizer=tokenizers.DefaultTokenizer(use_stemmer=True))
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1; two empty texts agree perfectly (rouge_score would say 0)."""
    if not prediction.strip() and not reference.strip():
        return 1.0
    return _SCORER.score(reference, prediction)["rougeL"].fmeasure


def rouge_l_each(predictions: Sequence[str], references: Sequence[str | None]) -> list[float | None]:
    """Per row ROUGE-L F1; None where the row has no reference (synthesized rows have none)."""
    return [rouge_l(p, r) if isinstance(r, str) else None for p, r in zip(predictions, references)]


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def mean_rouge_l(predictions: Sequence[str], references: Sequence[str | None]) -> float | None:
    """Mean over rows that have a reference; None if no row has one."""
    return _mean(rouge_l_each(predictions, references))


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(reference)


def last_number(text: str) -> float | None:
    """The last number written in `text` (commas as thousands separators, a/b fractions), or None."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    token = found[-1].replace(",", "")
    if "/" in token:
        num, den = token.split("/")
        return float(num) / float(den) if float(den) else None
    return float(token)


def numeric_match(prediction: str, reference: str, rel_tol: float = 1e-6) -> bool | None:
    """Whether the last numbers agree; None when the reference states no number (not verifiable this way)."""
    expected = last_number(reference)
    if expected is None:
        return None
    got = last_number(prediction)
    return got is not None and math.isclose(got, expected, rel_tol=rel_tol, abs_tol=1e-9)


def exact_match_each(predictions: Sequence[str], references: Sequence[str | None]) -> list[float | None]:
    """Per row 1.0 / 0.0; None where the row has no reference."""
    return [float(exact_match(p, r)) if isinstance(r, str) else None for p, r in zip(predictions, references)]


def numeric_match_each(predictions: Sequence[str], references: Sequence[str | None]) -> list[float | None]:
    """Per row 1.0 / 0.0; None where the row has no reference or its reference states no number."""
    out: list[float | None] = []
    for p, r in zip(predictions, references):
        verdict = numeric_match(p, r) if isinstance(r, str) else None
        out.append(None if verdict is None else float(verdict))
    return out


def mean_exact_match(predictions: Sequence[str], references: Sequence[str | None]) -> float | None:
    return _mean(exact_match_each(predictions, references))


def mean_numeric_match(predictions: Sequence[str], references: Sequence[str | None]) -> float | None:
    """Mean over rows whose reference holds a number; None if none does."""
    return _mean(numeric_match_each(predictions, references))


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    """ECE = sum_b |B_b|/N * |accuracy(B_b) - mean confidence(B_b)| over equal-width bins of (0, 1].

    A confidence of exactly 0 falls in the first bin. Returns 0 for no predictions.
    """
    conf = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(correct, dtype=np.float64)
    if conf.shape != hits.shape:
        raise ValueError(f"confidences {conf.shape} and correct {hits.shape} must have the same shape")
    if conf.size == 0:
        return 0.0
    if (conf < 0).any() or (conf > 1).any():
        raise ValueError("confidences must lie in [0, 1]")
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            ece += members.mean() * abs(hits[members].mean() - conf[members].mean())
    return float(ece)


def _ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams / all n-grams over the corpus (whitespace tokens, lower case); 0 if there are none."""
    grams = [g for t in texts for g in _ngrams(t.lower().split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(texts: Sequence[str]) -> float | None:
    """Mean sentence BLEU (0-1) of each non-empty text against all the others; None with fewer than two.

    High values mean the texts resemble each other: low diversity.
    """
    from sacrebleu.metrics import BLEU

    kept = [t for t in texts if t.strip()]
    if len(kept) < 2:
        return None
    bleu = BLEU(effective_order=True)
    scores = [bleu.sentence_score(t, kept[:i] + kept[i + 1 :]).score for i, t in enumerate(kept)]
    return sum(scores) / len(scores) / 100.0
