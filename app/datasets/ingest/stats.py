"""Row, turn and character statistics of normalised conversations (token lengths are the worker's job)."""

from __future__ import annotations

import math

HISTOGRAM_BINS = 20


def _summary(values: list[int]) -> dict:
    if not values:
        return {"total": 0, "mean": 0.0, "min": 0, "max": 0, "median": 0}
    ordered = sorted(values)
    return {"total": sum(values), "mean": round(sum(values) / len(values), 2), "min": ordered[0],
            "max": ordered[-1], "median": ordered[len(ordered) // 2]}  # fmt: skip


def histogram(values: list[int], bins: int = HISTOGRAM_BINS) -> dict:
    """Equal-width bins from 0 to the maximum: {"edges": [bins + 1 numbers], "counts": [bins numbers]};
    bin k holds edges[k] <= v < edges[k + 1], the last bin also holds the maximum."""
    if not values:
        return {"edges": [], "counts": []}
    top = max(values)
    width = max(1, math.ceil((top + 1) / bins))
    edges = [k * width for k in range(bins + 1)]
    counts = [0] * bins
    for v in values:
        counts[min(v // width, bins - 1)] += 1
    return {"edges": edges, "counts": counts}


def conversation_stats(rows: list[dict]) -> dict:
    """rows; turns (user + assistant messages per row), exchanges (assistant turns); characters per role
    and per row; share of rows with a system prompt; histogram of characters per row."""
    turns, exchanges, per_row = [], [], []
    chars = {"system": 0, "user": 0, "assistant": 0}
    with_system = 0
    for row in rows:
        messages = row["messages"]
        n_turns = 0
        row_chars = 0
        for m in messages:
            size = len(m["content"])
            chars[m["role"]] += size
            row_chars += size
            if m["role"] != "system":
                n_turns += 1
        with_system += bool(messages) and messages[0]["role"] == "system"
        turns.append(n_turns)
        exchanges.append(sum(m["role"] == "assistant" for m in messages))
        per_row.append(row_chars)
    return {
        "rows": len(rows),
        "turns": _summary(turns),
        "exchanges": _summary(exchanges),
        "rows_with_system": with_system,
        "characters": {**chars, "total": sum(chars.values()), "per_row": _summary(per_row)},
        "char_histogram": histogram(per_row),
    }
