"""Peak resident memory of this process since it was exec'd.

Not ``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux that maximum survives fork + exec, so a child started by a
large parent (a 2 GB pytest process, a Celery worker) reports the parent's size (measured: 2,279 MB for a
~800 MB training step). ``VmHWM`` in /proc/self/status belongs to the new address space that exec creates.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

STATUS = Path("/proc/self/status")


def peak_rss_bytes() -> int:
    if STATUS.is_file():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
    # Elsewhere (macOS) fall back to ru_maxrss: bytes on macOS, kilobytes on Linux (getrusage(2)).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)
