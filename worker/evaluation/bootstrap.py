"""Paired bootstrap confidence intervals for the difference between two systems scored on the SAME items.
PURE: numpy only.

Method: Koehn (2004), "Statistical Significance Tests for Machine Translation Evaluation" (paired bootstrap
resampling); the interval is the percentile interval of Efron & Tibshirani (1993, ch. 13). Each resample draws
n item indices with replacement and recomputes BOTH systems' statistic on the same indices, so the noise that
the two systems share (easy vs hard items) cancels in the difference.

Mean statistics (per-item BLEU, MMCU correctness) use ``paired_bootstrap_mean_diff``; corpus BLEU, which pools
n-gram counts, recomputes the corpus score on every resampled corpus (``paired_bootstrap_corpus_bleu``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class BootstrapInterval:
    """``diff`` = statistic(b) - statistic(a) on all items; [low, high] its percentile interval."""

    diff: float
    low: float
    high: float
    confidence: float
    n_items: int
    n_resamples: int

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0: the gain (or loss) is unlikely to be resampling noise."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def _validate(n_items: int, n_resamples: int, confidence: float) -> None:
    if n_items < 2:
        raise ValueError(f"a bootstrap interval needs at least 2 paired items, got {n_items}")
    if n_resamples < 100:
        raise ValueError(f"n_resamples must be >= 100 for a stable interval, got {n_resamples}")
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence}")


def paired_bootstrap(
    n_items: int,
    statistic_a: Callable[[np.ndarray], float],
    statistic_b: Callable[[np.ndarray], float],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Generic paired bootstrap: each statistic takes an index array (a resample of range(n_items))."""
    _validate(n_items, n_resamples, confidence)
    rng = np.random.default_rng(seed)
    everything = np.arange(n_items)
    diff = float(statistic_b(everything) - statistic_a(everything))
    diffs = np.empty(n_resamples)
    for i in range(n_resamples):
        idx = rng.integers(0, n_items, size=n_items)
        diffs[i] = statistic_b(idx) - statistic_a(idx)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return BootstrapInterval(diff, float(low), float(high), confidence, n_items, n_resamples)


def paired_bootstrap_mean_diff(
    scores_a: Sequence[float],
    scores_b: Sequence[float],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Interval of mean(b) - mean(a) for per-item scores of two systems on the same items (same order)."""
    a = np.asarray(scores_a, dtype=float)
    b = np.asarray(scores_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"paired scores must be two flat lists of the same length, got {a.shape} and {b.shape}"
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired scores contain NaN or infinity")
    _validate(len(a), n_resamples, confidence)
    # Vectorised: one (n_resamples, n) index matrix; means of the paired differences are the same as the
    # difference of means on each resample.
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_resamples, len(a)))
    d = b - a
    diffs = d[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return BootstrapInterval(float(d.mean()), float(low), float(high), confidence, len(a), n_resamples)


def paired_bootstrap_corpus_bleu(
    predictions_a: Sequence[str],
    predictions_b: Sequence[str],
    references: Sequence[str],
    *,
    order: int = 4,
    tokenization: str = "char",
    smoothing: str = "method3",
    n_resamples: int = 300,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Interval of corpus-BLEU-n(b) - corpus-BLEU-n(a), x100, resampling the corpus (Koehn 2004)."""
    from nltk.translate.bleu_score import corpus_bleu

    from worker.evaluation.text_metrics import BLEU_WEIGHTS, smoothing_function, tokenize

    if not len(predictions_a) == len(predictions_b) == len(references):
        raise ValueError("both systems need one prediction per reference, in the same order")
    weights = BLEU_WEIGHTS[f"bleu{order}"]
    smooth = smoothing_function(smoothing)
    hyp_a = [tokenize(p, tokenization) for p in predictions_a]
    hyp_b = [tokenize(p, tokenization) for p in predictions_b]
    refs = [[tokenize(r, tokenization)] for r in references]

    def stat(hyps: list[list[str]]) -> Callable[[np.ndarray], float]:
        return lambda idx: (
            100
            * corpus_bleu(
                [refs[i] for i in idx], [hyps[i] for i in idx], weights=weights, smoothing_function=smooth
            )
        )

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk's zero-count warnings; 0 is the right score there
        return paired_bootstrap(
            len(references),
            stat(hyp_a),
            stat(hyp_b),
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )


def compare_scores(base: dict, tuned: dict, *, n_resamples: int = 2000, seed: int = 0) -> dict:
    """Paired intervals between two evaluation runs' ``scores.json`` (worker.evaluation.run) on the same
    items.

    Items are matched by id (``per_item.bleu_ids``) and by (file, sheet, row) (``per_item.mmcu_keys``); only
    items both runs finished count. Returns ``{"bleu4": {...}, "mmcu_accuracy": {...}}`` with
    ``BootstrapInterval.to_dict()`` values (diff = tuned - base), for the metrics both runs have."""
    out: dict = {}
    for metric, values_key, ids_key in (
        ("bleu4", "bleu4", "bleu_ids"),
        ("mmcu_accuracy", "mmcu_correct", "mmcu_keys"),
    ):
        a_items, b_items = base.get("per_item", {}), tuned.get("per_item", {})
        if values_key not in a_items or values_key not in b_items:
            continue
        a = {json_key(k): v for k, v in zip(a_items[ids_key], a_items[values_key], strict=True)}
        b = {json_key(k): v for k, v in zip(b_items[ids_key], b_items[values_key], strict=True)}
        common = [k for k in a if k in b]
        if len(common) < 2:
            continue
        out[metric] = paired_bootstrap_mean_diff(
            [a[k] for k in common], [b[k] for k in common], n_resamples=n_resamples, seed=seed
        ).to_dict()
    return out


def json_key(key: object) -> str:
    """A hashable, order-stable form of an item id (a string, or a [file, sheet, row] list)."""
    return key if isinstance(key, str) else repr(list(key) if isinstance(key, (list, tuple)) else key)
