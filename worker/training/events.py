"""metrics.jsonl: the training child's channel to the supervisor (docs/CONTRACTS.md, "The training child").

One JSON object a line, appended and flushed line by line so a reader tailing the file never sees half a
record for long; only the main process (rank 0) writes.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from app.i18n import in_english

METRICS_FILE = "metrics.jsonl"
ERROR_FILE = "error.json"


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null rather than producing a file strict readers reject."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class EventWriter:
    def __init__(self, run_dir: Path, *, enabled: bool = True) -> None:
        self.path = Path(run_dir) / METRICS_FILE
        self.enabled = enabled

    def write(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        record = {"event": event, **{key: _clean(value) for key, value in fields.items()}}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()

    def say(self, event: str, said: dict, **fields: Any) -> None:
        """An event whose message is an app.i18n sentence: the English text as `message` (logs, API, CLI),
        the sentence as `said` (the job page says it in its reader's language)."""
        self.write(event, message=in_english(said), said=said, **fields)

    def __call__(self, record: dict[str, Any]) -> None:
        """Write a ready-made record (``{"event": ..., ...}``), the form other hooks (quick eval) use."""
        record = dict(record)
        self.write(record.pop("event", "info"), **record)


def write_error(run_dir: Path, message: str) -> Path:
    """error.json for a user-facing failure (exit code 2); written atomically so it is never half there."""
    path = Path(run_dir) / ERROR_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"error": message}, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    """All events written so far (tests and tools)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
