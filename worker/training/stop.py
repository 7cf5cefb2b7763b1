"""The stop request of the training child: SIGTERM / SIGINT set a flag, the Trainer acts on it at step end.

Kept free of torch so that the child installs it first thing, before the slow imports: a cancel that lands
while the libraries load is then a clean stop, not a crash.
"""

from __future__ import annotations

import signal
from typing import Any


class StopFlag:
    """Set by SIGTERM / SIGINT; read at the end of every optimizer step (callbacks.GracefulStop)."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        # Only set a flag: the step in flight finishes, then the Trainer saves and stops.
        self.requested = True
        self.signal_name = signal.Signals(signum).name
