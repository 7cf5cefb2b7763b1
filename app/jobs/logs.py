"""The last lines of a job's child log: the supervisor sends the child's stdout and stderr to
``train.log`` in the job's run folder (worker/supervisor.py, worker/child_process.py)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

from app.models import Job

LOG_FILE = "train.log"
MAX_TAIL = 2000
# Read backwards in blocks until enough lines are in; never more than this (a runaway line of progress
# bars must not make one request read a gigabyte).
_BLOCK = 64 * 1024
_MAX_BYTES = 4 * 1024 * 1024


class JobLogRead(BaseModel):
    job_id: int
    available: bool
    lines: list[str]
    size_bytes: int


def tail_lines(path: Path, count: int) -> tuple[list[str], int]:
    """The last ``count`` lines of ``path`` (decoded leniently) and the file size."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        start, data = size, b""
        while start > 0 and data.count(b"\n") <= count and size - start < _MAX_BYTES:
            start = max(0, start - _BLOCK)
            handle.seek(start)
            data = handle.read(size - start)
    text = data.decode("utf-8", errors="replace")
    # tqdm redraws a bar with carriage returns: a reader wants the bar's last state, not every frame.
    lines = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    if start > 0 and lines:
        lines = lines[1:]  # the first line was cut by the block boundary
    return lines[-count:] if count else [], size


def job_log_tail(job: Job, count: int) -> JobLogRead:
    # run_dir is written by the worker (the data dir's runs/job-N), never taken from a request.
    path = Path(job.run_dir) / LOG_FILE if job.run_dir else None
    if path is None or not path.is_file():
        return JobLogRead(job_id=job.id, available=False, lines=[], size_bytes=0)
    lines, size = tail_lines(path, count)
    return JobLogRead(job_id=job.id, available=True, lines=lines, size_bytes=size)
