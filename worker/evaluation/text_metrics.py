"""BLEU and ROUGE for (mostly Chinese) generations. PURE: nltk, jieba, rouge-chinese; no torch.

The numbers come from the libraries themselves (nltk.translate.bleu_score, rouge_chinese.Rouge); this module
only chooses the tokenisation, the n-gram weights and the smoothing, so the results equal the ones the field
reports:

* LLaMA-Factory / ChatGLM-6B P-tuning: BLEU-4 = nltk ``sentence_bleu`` on character lists with
  ``SmoothingFunction().method3``, ROUGE-1/2/L F on jieba words joined by spaces (rouge-chinese), each x100
  per sample then averaged (hiyouga/LLaMA-Factory scripts/eval_bleu_rouge.py). ``llamafactory_scores`` is
  that, exactly.
* The course: nltk ``sentence_bleu`` / ``corpus_bleu`` with the cumulative BLEU-1..4 weights.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import jieba
from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu
from rouge_chinese import Rouge

jieba.setLogLevel(logging.CRITICAL)

Tokenization = Literal["char", "jieba"]
TOKENIZATIONS: tuple[str, ...] = ("char", "jieba")
# "none" = nltk method0 (no smoothing); method1..7 are Chen & Cherry (2014), as implemented by nltk.
SMOOTHINGS: tuple[str, ...] = ("none", *(f"method{i}" for i in range(8)))
# Cumulative BLEU-n weights (Papineni et al. 2002: geometric mean of 1..n-gram precisions, uniform weights).
BLEU_WEIGHTS: dict[str, tuple[float, ...]] = {
    "bleu1": (1.0, 0.0, 0.0, 0.0),
    "bleu2": (0.5, 0.5, 0.0, 0.0),
    "bleu3": (1 / 3, 1 / 3, 1 / 3, 0.0),
    "bleu4": (0.25, 0.25, 0.25, 0.25),
}


class MetricInputError(ValueError):
    """Bad input to a metric function (lengths differ, unknown option...)."""


def tokenize(text: str, tokenization: Tokenization = "char") -> list[str]:
    """Split text for BLEU. ``char``: every character (spaces included, as LLaMA-Factory's ``list(text)``);
    ``jieba``: jieba words with whitespace-only tokens dropped (they carry no content and jieba emits
    them)."""
    if tokenization == "char":
        return list(text)
    if tokenization == "jieba":
        return [w for w in jieba.cut(text) if w.strip()]
    raise MetricInputError(f"unknown tokenization {tokenization!r}; choose one of {TOKENIZATIONS}")


def smoothing_function(name: str) -> Callable[..., list[float]]:
    """nltk SmoothingFunction method by name ("none" = method0)."""
    if name not in SMOOTHINGS:
        raise MetricInputError(f"unknown smoothing {name!r}; choose one of {SMOOTHINGS}")
    return getattr(SmoothingFunction(), "method0" if name == "none" else name)


def _check_pairs(predictions: Sequence[str], references: Sequence[str]) -> None:
    if isinstance(predictions, str) or isinstance(references, str):
        raise MetricInputError("predictions and references must be lists of strings, not one string")
    if len(predictions) != len(references):
        raise MetricInputError(
            f"{len(predictions)} predictions but {len(references)} references: they must pair one to one"
        )
    for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
        if not isinstance(p, str) or not isinstance(r, str):
            raise MetricInputError(f"item {i}: prediction and reference must be strings")


def sentence_bleu_scores(
    prediction: str, reference: str, *, tokenization: Tokenization = "char", smoothing: str = "method3"
) -> dict[str, float]:
    """BLEU-1..4 of one prediction against one reference, in [0, 1] (nltk sentence_bleu)."""
    hyp, ref = tokenize(prediction, tokenization), tokenize(reference, tokenization)
    with warnings.catch_warnings():
        # nltk warns "The hypothesis contains 0 counts of n-gram overlaps" and returns 0: that IS the score.
        warnings.simplefilter("ignore")
        scores = sentence_bleu(
            [ref], hyp, weights=list(BLEU_WEIGHTS.values()), smoothing_function=smoothing_function(smoothing)
        )
    return {name: float(s) for name, s in zip(BLEU_WEIGHTS, scores, strict=True)}


def bleu_scores(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    tokenization: Tokenization = "char",
    smoothing: str = "method3",
) -> dict:
    """BLEU-1..4 x100, both sentence-averaged and corpus-level, plus the per-item sentence scores.

    Returns ``{"sentence": {"bleu1".."bleu4"}, "corpus": {...}, "per_item": {"bleu1": [...], ...},
    "tokenization", "smoothing", "n"}``. Corpus BLEU pools n-gram counts over all pairs (nltk corpus_bleu),
    so it is not the mean of the sentence scores.
    """
    _check_pairs(predictions, references)
    if not predictions:
        raise MetricInputError("no prediction/reference pairs to score")
    per_item: dict[str, list[float]] = {name: [] for name in BLEU_WEIGHTS}
    for p, r in zip(predictions, references, strict=True):
        for name, value in sentence_bleu_scores(p, r, tokenization=tokenization, smoothing=smoothing).items():
            per_item[name].append(value * 100)
    hyps = [tokenize(p, tokenization) for p in predictions]
    refs = [[tokenize(r, tokenization)] for r in references]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = corpus_bleu(
            refs, hyps, weights=list(BLEU_WEIGHTS.values()), smoothing_function=smoothing_function(smoothing)
        )
    return {
        "sentence": {name: sum(v) / len(v) for name, v in per_item.items()},
        "corpus": {name: float(c) * 100 for name, c in zip(BLEU_WEIGHTS, corpus, strict=True)},
        "per_item": per_item,
        "tokenization": tokenization,
        "smoothing": smoothing,
        "n": len(predictions),
    }


def rouge_f(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F of one pair on jieba words, in [0, 1] (rouge-chinese). An empty side scores 0, as in
    LLaMA-Factory (rouge-chinese raises on empty input)."""
    hyp = " ".join(jieba.cut(prediction))
    ref = " ".join(jieba.cut(reference))
    if not hyp.split() or not ref.split():
        return {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    scores = Rouge().get_scores(hyp, ref)[0]
    return {name: float(scores[name]["f"]) for name in ("rouge-1", "rouge-2", "rouge-l")}


def rouge_scores(predictions: Sequence[str], references: Sequence[str]) -> dict:
    """Mean ROUGE-1/2/L F x100 over pairs, plus per-item lists: ``{"rouge-1", "rouge-2", "rouge-l",
    "per_item": {...}, "n"}``."""
    _check_pairs(predictions, references)
    if not predictions:
        raise MetricInputError("no prediction/reference pairs to score")
    per_item: dict[str, list[float]] = {"rouge-1": [], "rouge-2": [], "rouge-l": []}
    for p, r in zip(predictions, references, strict=True):
        for name, value in rouge_f(p, r).items():
            per_item[name].append(value * 100)
    result: dict = {name: sum(v) / len(v) for name, v in per_item.items()}
    result["per_item"] = per_item
    result["n"] = len(predictions)
    return result


def llamafactory_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """LLaMA-Factory's numbers exactly: per sample BLEU-4 (char, method3) and ROUGE-1/2/L F (jieba), each
    ``round(x * 100, 4)``, then the plain mean (scripts/eval_bleu_rouge.py)."""
    _check_pairs(predictions, references)
    if not predictions:
        raise MetricInputError("no prediction/reference pairs to score")
    sums = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0, "bleu-4": 0.0}
    for p, r in zip(predictions, references, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bleu = sentence_bleu([list(r)], list(p), smoothing_function=SmoothingFunction().method3)
        for name, value in rouge_f(p, r).items():
            sums[name] += round(value * 100, 4)
        sums["bleu-4"] += round(bleu * 100, 4)
    return {name: s / len(predictions) for name, s in sums.items()}
