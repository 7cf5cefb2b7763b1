"""Helper for writing text blocks one item a line."""

from __future__ import annotations


def lines(block: str) -> list[str]:
    """The non-empty, stripped lines of ``block``."""
    return [line.strip() for line in block.strip().splitlines() if line.strip()]
