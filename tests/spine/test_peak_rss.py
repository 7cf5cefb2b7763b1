"""A child's measured peak memory is its own, not the size of the process that started it."""

from __future__ import annotations

import subprocess
import sys

from app.migrations import REPO_ROOT


def test_a_child_started_by_a_large_parent_reports_its_own_peak() -> None:
    ballast = bytearray(600 * 1024 * 1024)  # the parent holds 600 MB, touched so it is resident
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    code = "from worker.peak_rss import peak_rss_bytes; print(peak_rss_bytes())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    child_peak = int(out.stdout.strip())
    assert 5_000_000 < child_peak < 300 * 1024 * 1024, child_peak
    del ballast
