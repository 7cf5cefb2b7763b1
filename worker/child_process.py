"""A child process in its own process group, so a cancel reaches everything it started
(torchrun ranks, data-loader workers) and nothing outlives the job."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from app.migrations import REPO_ROOT
from worker.orphan_guard import die_with_parent


class ChildProcess:
    def __init__(self, argv: list[str], *, env: dict[str, str], log_path: Path) -> None:
        self.argv = argv
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own session and process group: killpg reaches all descendants
            preexec_fn=die_with_parent,  # SIGKILL by the kernel if the worker dies (worker/orphan_guard.py)
        )
        self.pgid = self.process.pid
        self.terminate_sent_at: float | None = None

    def poll(self) -> int | None:
        return self.process.poll()

    def terminate(self) -> None:
        """SIGTERM to the group: the child stops at the end of the step and saves a checkpoint."""
        if self.terminate_sent_at is None:
            self.terminate_sent_at = time.monotonic()
            self._signal_group(signal.SIGTERM)

    def kill_if_overdue(self, grace_seconds: float) -> None:
        if self.terminate_sent_at is not None and time.monotonic() - self.terminate_sent_at > grace_seconds:
            self._signal_group(signal.SIGKILL)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def reap_group(self) -> None:
        """After the leader exits, kill whatever it left behind in its group, then close the log."""
        self._signal_group(signal.SIGKILL)
        self._log.close()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)


def log_tail(path: Path, max_lines: int = 25, max_chars: int = 4000) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-max_lines:])[-max_chars:]
