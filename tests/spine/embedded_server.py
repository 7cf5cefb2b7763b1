"""`ftstudio up` as a user runs it: a subprocess with its own data dir and port, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.migrations import REPO_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedStudio:
    def __init__(self, data_dir: Path, *extra_args: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update({"FTSTUDIO_HEARTBEAT_INTERVAL_SECONDS": "1", "TOKENIZERS_PARALLELISM": "false"})
        self.log_path = data_dir.parent / f"{data_dir.name}-up.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli.main",
                "up",
                "--data-dir",
                str(data_dir),
                "--port",
                str(self.port),
                *extra_args,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ftstudio up exited early:\n{self.output()}")
            try:
                if (
                    httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200
                    and self._worker_online()
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"ftstudio up was not ready within {timeout}s:\n{self.output()}")

    def _worker_online(self) -> bool:
        import sqlite3

        db = self.data_dir / "ftstudio.db"
        if not db.exists():
            return False
        try:
            with sqlite3.connect(db) as conn:
                return bool(conn.execute("select count(*) from workers where status='online'").fetchone()[0])
        except sqlite3.Error:
            return False

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def leftover_processes(self) -> list[int]:
        """Anything still running that was started for this studio (its worker, training children)."""
        import psutil

        marker = str(self.data_dir)
        found = []
        for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
            try:
                environ = proc.info.get("environ") or {}
            except psutil.Error:
                continue
            if environ.get("FTSTUDIO_DATA_DIR") == marker and proc.info["pid"] != os.getpid():
                found.append(proc.info["pid"])
        return found

    def stop(self, timeout: float = 90.0) -> int:
        """Ctrl-C, as a user would press it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        return self.process.returncode
