"""Hit rate of the FAQ layer on a held-out split: the index is built from the FAQ set's training split,
the held-out questions (paraphrases of indexed ones) should hit, and unrelated questions should not.
Pure Python; used by benchmarks/faq.py and tests/serving/test_faq_matching.py."""

from __future__ import annotations

import random

from app.serving.faq import FaqIndex


def split_pairs(
    pairs: list[tuple[str, str]], held_out: float = 0.2, seed: int = 42
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    cut = max(1, int(len(pairs) * held_out))
    return [pairs[i] for i in order[cut:]], [pairs[i] for i in order[:cut]]


def hit_rates(
    index: FaqIndex, held_out: list[str], unrelated: list[str], thresholds: list[float]
) -> list[dict[str, float]]:
    """Per threshold: the share of held-out questions answered from the set (hit rate) and the share of
    unrelated questions wrongly answered from it (false-hit rate)."""
    held = [index.best(q, 0.0) for q in held_out]
    other = [index.best(q, 0.0) for q in unrelated]
    rows = []
    for t in thresholds:
        rows.append(
            {
                "threshold": t,
                "hit_rate": sum(1 for m in held if m and m.similarity >= t) / max(1, len(held)),
                "false_hit_rate": sum(1 for m in other if m and m.similarity >= t) / max(1, len(other)),
            }
        )
    return rows
