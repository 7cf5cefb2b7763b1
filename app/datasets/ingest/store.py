"""Serialising rows: the content hash of a dataset version and the atomic JSONL write.

Both use the same canonical line (sorted keys, no ASCII escaping, compact separators), so
content_hash(rows) == sha256 of the file write_jsonl_atomic(rows, path) writes: a stored file can be
checked against its version's hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _lines(rows: list[dict]) -> Iterator[bytes]:
    for row in rows:
        yield (json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode()


def content_hash(rows: list[dict]) -> str:
    """sha256 (hex) over the canonical JSONL serialisation of `rows`, in order."""
    digest = hashlib.sha256()
    for line in _lines(rows):
        digest.update(line)
    return digest.hexdigest()


def write_jsonl_atomic(rows: list[dict], path: Path) -> None:
    """Write `rows` as JSONL to `path` via a temporary file in the same folder and os.replace, so a
    reader sees either the old file or the complete new one, and a failure leaves no partial file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for line in _lines(rows):
                fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
