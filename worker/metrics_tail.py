"""Reads the child's metrics.jsonl incrementally: only complete lines, from where it stopped last time."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("ftstudio.worker")


class MetricsTail:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read_new(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        end = data.rfind(b"\n")
        if end < 0:
            return []  # a line still being written: wait for its newline
        self.offset += end + 1
        events = []
        for line in data[: end + 1].splitlines():
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("skipping a malformed metrics line in %s: %r", self.path, line[:200])
        return events
