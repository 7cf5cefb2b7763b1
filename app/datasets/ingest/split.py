"""Seeded train/validation split of normalised rows."""

from __future__ import annotations

import random

from app.datasets.ingest.schema import IngestError


def split_rows(
    rows: list[dict], *, val_set_size: int | None = None, val_set_rate: float | None = None, seed: int = 42
) -> tuple[list[dict], list[dict]]:
    """Return (train, val). Give at most one of val_set_size (a count) or val_set_rate (a fraction in
    (0, 1)); neither means no validation set. The same rows and seed always give the same split, and both
    parts keep the rows' original order (so a version's files diff cleanly)."""
    if val_set_size is not None and val_set_rate is not None:
        raise IngestError("give either val_set_size or val_set_rate, not both", field="val_set_size")
    n = len(rows)
    if val_set_rate is not None:
        if isinstance(val_set_rate, bool) or not 0.0 < float(val_set_rate) < 1.0:
            raise IngestError("val_set_rate must be a fraction between 0 and 1", field="val_set_rate")
        # At least one validation row when a rate was asked for; round() keeps 0.1 of 1000 at exactly 100.
        k = max(1, round(n * float(val_set_rate)))
    elif val_set_size is not None:
        if isinstance(val_set_size, bool) or not isinstance(val_set_size, int) or val_set_size < 0:
            raise IngestError("val_set_size must be a whole number, 0 or more", field="val_set_size")
        k = val_set_size
    else:
        k = 0
    if k == 0:
        return list(rows), []
    if k >= n:
        raise IngestError(
            f"the validation set ({k} rows) must be smaller than the dataset ({n} rows)",
            field="val_set_size" if val_set_size is not None else "val_set_rate",
        )
    chosen = set(random.Random(seed).sample(range(n), k))
    train = [r for i, r in enumerate(rows) if i not in chosen]
    val = [r for i, r in enumerate(rows) if i in chosen]
    return train, val
