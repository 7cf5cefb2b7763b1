"""Base vs fine-tuned, side by side. PURE: numpy (via worker.evaluation.bootstrap) and the standard library.

Each metric row carries the difference tuned - base and, where both evaluations kept per-item scores for
the same items, a paired bootstrap interval of that difference (Koehn 2004; worker/evaluation/bootstrap.py).
The interval is over the per-item statistic the row reports: sentence BLEU-n / ROUGE means over prompts,
and MMCU micro accuracy (the share of all questions answered right) over questions. MMCU's headline
"accuracy" is a macro mean (unweighted mean of domains, each the unweighted mean of its sub-files): when the
engine names each question (``mmcu_keys`` = [file, sheet, row]), each resample recomputes that macro mean on
the resampled questions (generic paired bootstrap); otherwise only the micro row carries an interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from worker.evaluation.bootstrap import paired_bootstrap, paired_bootstrap_mean_diff

# Score metric -> the per-item array (job.result["per_item"]) whose mean it is.
PER_ITEM_OF: dict[str, str] = {
    "bleu1": "bleu1",
    "bleu2": "bleu2",
    "bleu3": "bleu3",
    "bleu4": "bleu4",
    "rouge-1": "rouge-1",
    "rouge-2": "rouge-2",
    "rouge-l": "rouge-l",
    "accuracy_micro": "mmcu_correct",
}
SUITE_ORDER = {"bleu_rouge": 0, "mmcu": 1}
MAX_DRAWS = 12_000_000
CHART_METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge-1", "rouge-2", "rouge-l")


class ScoreLike(Protocol):
    suite: str
    metric: str
    domain: str | None
    subject: str | None
    value: float
    count: int | None


@dataclass(frozen=True)
class ScoreKey:
    suite: str
    metric: str
    domain: str | None
    subject: str | None


def _key(score: ScoreLike) -> ScoreKey:
    return ScoreKey(score.suite, score.metric, score.domain, score.subject)


def _as_floats(values: Sequence[Any]) -> list[float]:
    return [float(v.get("correct", 0)) if isinstance(v, dict) else float(v) for v in values]


def _interval(
    base: Sequence[Any] | None, tuned: Sequence[Any] | None, *, confidence: float, n_resamples: int
) -> tuple[dict[str, Any] | None, str | None]:
    """(interval, None) or (None, why there is none)."""
    if base is None or tuned is None:
        return None, "per-item scores missing on one side"
    if len(base) != len(tuned):
        return None, f"the two evaluations scored different items ({len(base)} vs {len(tuned)})"
    if len(base) < 2:
        return None, "fewer than 2 items"
    # The engine's mean-diff bootstrap draws one (n_resamples x n) index matrix at once: 2000 x 11,900 MMCU
    # questions is ~400 MB in the web process. Above ~12M draws use 1000 resamples, still enough for a
    # percentile interval (Efron & Tibshirani 1993, ch. 13 suggest >= 1000 for percentiles).
    if n_resamples * len(base) > MAX_DRAWS:
        n_resamples = max(1000, MAX_DRAWS // len(base))
    ci = paired_bootstrap_mean_diff(
        _as_floats(base), _as_floats(tuned), n_resamples=n_resamples, confidence=confidence
    )
    return ci.to_dict(), None


MMCU_DOMAINS = ("医疗", "法律", "心理", "教育")


def _subject_and_domain(key: Sequence[Any]) -> tuple[str, str]:
    """MMCU's reporting unit of a question (file, sheet, row): each 医疗 sheet, every other file; the domain
    is the file's prefix (教育_数学 -> 教育), as worker/evaluation/mmcu_data.py reads the layout."""
    file, sheet = str(key[0]), str(key[1])
    head = file.split("_", 1)[0]
    domain = head if head in MMCU_DOMAINS else file
    return (f"{file}/{sheet}" if domain == "医疗" else file), domain


def macro_accuracy_interval(
    keys: Sequence[Sequence[Any]],
    base_correct: Sequence[Any],
    tuned_correct: Sequence[Any],
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
) -> dict[str, Any]:
    """Paired bootstrap interval of the MMCU macro accuracy difference (tuned - base) over questions.

    Statistic per resample: mean over domains of (mean over that domain's sub-files of accuracy), using
    only the sub-files the resample drew (a rarely drawn sub-file simply drops out of that resample)."""
    units = [_subject_and_domain(k) for k in keys]
    subjects = sorted({u[0] for u in units})
    subject_index = {s: i for i, s in enumerate(subjects)}
    domains = sorted({u[1] for u in units})
    subject_domain = np.array([domains.index(next(u[1] for u in units if u[0] == s)) for s in subjects])
    sid = np.array([subject_index[u[0]] for u in units])
    a, b = np.asarray(_as_floats(base_correct)), np.asarray(_as_floats(tuned_correct))

    def macro(values: np.ndarray) -> Callable[[np.ndarray], float]:
        def stat(idx: np.ndarray) -> float:
            n = np.bincount(sid[idx], minlength=len(subjects))
            hits = np.bincount(sid[idx], weights=values[idx], minlength=len(subjects))
            present = n > 0
            acc = np.where(present, hits / np.maximum(n, 1), 0.0)
            dom_n = np.bincount(subject_domain[present], minlength=len(domains))
            dom_sum = np.bincount(subject_domain[present], weights=acc[present], minlength=len(domains))
            have = dom_n > 0
            return float((dom_sum[have] / dom_n[have]).mean())

        return stat

    ci = paired_bootstrap(len(a), macro(a), macro(b), n_resamples=n_resamples, confidence=confidence)
    return ci.to_dict()


@dataclass
class _Row:
    suite: str
    metric: str
    domain: str | None
    subject: str | None
    value: float
    count: int | None


def _micro_rows(scores: Iterable[ScoreLike], items: Mapping[str, Sequence[Any]]) -> list[ScoreLike]:
    """An ``accuracy_micro`` row from the per-question verdicts when the engine did not write one."""
    scores = list(scores)
    has_mmcu = any(s.suite == "mmcu" for s in scores)
    has_micro = any(s.suite == "mmcu" and s.metric == "accuracy_micro" and s.domain is None for s in scores)
    verdicts = items.get("mmcu_correct")
    if not has_mmcu or has_micro or not verdicts:
        return scores
    values = _as_floats(verdicts)
    micro = _Row("mmcu", "accuracy_micro", None, None, sum(values) / len(values), len(values))
    return [*scores, micro]


def _macro_interval(
    base_items: Mapping[str, Sequence[Any]], tuned_items: Mapping[str, Sequence[Any]], *, confidence: float
) -> tuple[dict[str, Any] | None, str | None]:
    keys_a, keys_b = base_items.get("mmcu_keys"), tuned_items.get("mmcu_keys")
    if not keys_a or not keys_b:
        return None, "the engine did not name the questions (mmcu_keys)"
    if [list(k) for k in keys_a] != [list(k) for k in keys_b]:
        return None, "the two evaluations answered different questions"
    a, b = base_items.get("mmcu_correct"), tuned_items.get("mmcu_correct")
    if not a or not b or len(a) != len(b) or len(a) != len(keys_a) or len(a) < 2:
        return None, "per-question verdicts missing or of another length"
    return macro_accuracy_interval(keys_a, a, b, confidence=confidence), None


def comparison_rows(
    base_scores: Iterable[ScoreLike],
    tuned_scores: Iterable[ScoreLike],
    base_items: Mapping[str, Sequence[Any]],
    tuned_items: Mapping[str, Sequence[Any]],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows {suite, metric, domain, subject, base, tuned, diff, ci_low, ci_high, significant, n_items}
    over the union of both sides' scores (a side that lacks a score shows None), and notes on why some
    intervals are missing."""
    base_map = {_key(s): s for s in _micro_rows(base_scores, base_items)}
    tuned_map = {_key(s): s for s in _micro_rows(tuned_scores, tuned_items)}
    keys = sorted(
        set(base_map) | set(tuned_map),
        key=lambda k: (SUITE_ORDER.get(k.suite, 9), k.domain or "", k.subject or "", k.metric),
    )
    rows: list[dict[str, Any]] = []
    notes: set[str] = set()
    for key in keys:
        b, t = base_map.get(key), tuned_map.get(key)
        row: dict[str, Any] = {
            "suite": key.suite,
            "metric": key.metric,
            "domain": key.domain,
            "subject": key.subject,
            "base": b.value if b else None,
            "tuned": t.value if t else None,
            "diff": (t.value - b.value) if (b and t) else None,
            "ci_low": None,
            "ci_high": None,
            "significant": None,
            "n_items": None,
        }
        item_key = PER_ITEM_OF.get(key.metric)
        headline = b and t and key.domain is None and key.subject is None
        if headline and key.suite == "mmcu" and key.metric == "accuracy":
            ci, why = _macro_interval(base_items, tuned_items, confidence=confidence)
            if ci is not None:
                row.update(
                    ci_low=ci["low"], ci_high=ci["high"], significant=ci["significant"], n_items=ci["n_items"]
                )
            elif why:
                notes.add(f"accuracy (MMCU macro): no interval ({why})")
        elif headline and item_key:
            ci, why = _interval(
                base_items.get(item_key),
                tuned_items.get(item_key),
                confidence=confidence,
                n_resamples=n_resamples,
            )
            if ci is not None:
                # Accuracies are stored as fractions; the interval is on the same scale as the row.
                row.update(
                    ci_low=ci["low"], ci_high=ci["high"], significant=ci["significant"], n_items=ci["n_items"]
                )
            elif why:
                notes.add(f"{key.metric}: no interval ({why})")
        rows.append(row)
    return rows, sorted(notes)


def _prediction(sample: Mapping[str, Any]) -> str | None:
    if "prediction" in sample:
        return str(sample["prediction"])
    predictions = sample.get("predictions")
    if isinstance(predictions, list) and predictions:
        return str(predictions[0])
    return None


def pair_samples(
    base_samples: Sequence[Mapping[str, Any]], tuned_samples: Sequence[Mapping[str, Any]], *, limit: int = 20
) -> list[dict[str, Any]]:
    """Example generations side by side, matched by ``id`` when both sides have ids, else by prompt."""

    def key(sample: Mapping[str, Any]) -> str:
        return str(sample.get("id") or sample.get("prompt") or "")

    tuned_by_key = {key(s): s for s in tuned_samples}
    pairs = []
    for b in base_samples:
        t = tuned_by_key.get(key(b))
        if t is None:
            continue
        pairs.append(
            {
                "prompt": str(b.get("prompt") or ""),
                "reference": b.get("reference"),
                "base": _prediction(b),
                "tuned": _prediction(t),
            }
        )
        if len(pairs) >= limit:
            break
    return pairs


def chart_bars(rows: Sequence[Mapping[str, Any]], *, suite: str) -> list[dict[str, Any]]:
    """Headline rows of one suite for the bar chart: metric, base, tuned, both scaled to 0..1 of the
    largest value so the two bars of a metric share one axis."""
    picked = [
        r
        for r in rows
        if r["suite"] == suite
        and r["subject"] is None
        and r["base"] is not None
        and r["tuned"] is not None
        # Headline metrics only: the corpus, jieba and LLaMA-Factory variants stay in the table.
        and (r["metric"] in CHART_METRICS if suite == "bleu_rouge" else r["metric"] == "accuracy")
    ]
    top = max([max(r["base"], r["tuned"]) for r in picked] + [1e-9])
    return [
        {
            "label": r["metric"] if r["domain"] is None else f"{r['domain']}",
            "base": r["base"],
            "tuned": r["tuned"],
            "base_frac": r["base"] / top,
            "tuned_frac": r["tuned"] / top,
        }
        for r in picked
    ]
