"""Shared start-up steps of the CLI commands: settings from flags, schema migration, process launching."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from app.migrations import REPO_ROOT, upgrade_to_head
from app.settings import Settings, get_settings, reset_settings_cache

log = logging.getLogger("ftstudio.up")


def apply_flags(
    *,
    data_dir: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    database_url: str | None = None,
    redis_url: str | None = None,
) -> Settings:
    """Flags win over the environment. They are written into the environment so that child processes
    (the local worker, training children) read the very same settings."""
    updates = {
        "FTSTUDIO_DATA_DIR": str(data_dir.expanduser().resolve()) if data_dir else None,
        "FTSTUDIO_HOST": host,
        "FTSTUDIO_PORT": str(port) if port else None,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
    }
    for key, value in updates.items():
        if value:
            os.environ[key] = value
    reset_settings_cache()
    settings = get_settings()
    # Children must see an absolute data dir even when it came from a relative default.
    os.environ["FTSTUDIO_DATA_DIR"] = str(settings.resolved_data_dir)
    reset_settings_cache()
    settings = get_settings()
    settings.ensure_dirs()
    return settings


def migrate() -> None:
    upgrade_to_head(get_settings().sqlalchemy_url)


def worker_argv(queues: str, *, loglevel: str = "INFO") -> list[str]:
    # Solo pool, one process: one job at a time per worker (one GPU each), and the task runs in the
    # worker's main thread, where Celery's shutdown signal reaches the supervisor's loop.
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "--prefetch-multiplier",
        "1",
        "-Q",
        queues,
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def redact(url: str) -> str:
    """Never print a password: postgresql://user:secret@host -> postgresql://user:***@host."""
    from app.secrets import mask_url

    return mask_url(url)


__all__ = ["REPO_ROOT", "LocalWorker", "apply_flags", "exit_on_sigterm", "migrate", "redact", "worker_argv"]


class LocalWorker:
    """The worker `ftstudio up` runs beside the web server, supervised: if it dies (kill -9, OOM) its jobs
    are marked interrupted and queued again at once, and a new worker is started; stopping the studio
    stops it (warm: a running job saves a checkpoint and is queued again for the next start)."""

    def __init__(self, queues: str, *, grace_seconds: float) -> None:
        self.queues = queues
        self.grace_seconds = grace_seconds
        self.process: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self.restarts = 0
        self._thread = threading.Thread(target=self._watch, name="ftstudio-local-worker", daemon=True)

    def start(self) -> None:
        self.process = self._spawn()
        self._thread.start()

    def _spawn(self) -> subprocess.Popen:
        from worker.orphan_guard import die_with_parent  # standard library only: no torch in this process

        return subprocess.Popen(
            worker_argv(self.queues, loglevel="WARNING"),
            cwd=REPO_ROOT,
            env=os.environ.copy(),
            start_new_session=True,  # Ctrl-C in the terminal reaches `up`, which stops the worker warmly
            # If `up` itself is killed, the kernel sends the worker SIGTERM: nothing is left running.
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )

    def _watch(self) -> None:
        interval = get_settings().heartbeat_interval_seconds
        last_sweep = 0.0
        while not self.stopping.wait(1.0):
            process = self.process
            if process is not None and process.poll() is not None and not self.stopping.is_set():
                log.warning(
                    "the local worker (pid %s) exited with %s; restarting it", process.pid, process.returncode
                )
                self._reap(process.pid)
                time.sleep(min(30.0, 2.0**self.restarts) if self.restarts else 0)
                if self.stopping.is_set():
                    return
                self.restarts += 1
                self.process = self._spawn()
            if time.monotonic() - last_sweep >= interval:
                last_sweep = time.monotonic()
                self._sweep()
        # A worker started by this thread gets the kernel's SIGTERM when this thread ends (PDEATHSIG is
        # per thread): end only after stop() has seen the worker out, so it gets exactly one SIGTERM.
        if self.process is not None:
            self.process.wait()

    def _reap(self, pid: int) -> None:
        """The dead worker's running jobs: interrupted, queued again (they resume on the new worker)."""
        from app.db import session_scope
        from app.jobs.scheduling import reap_lost_jobs, wake
        from app.models import WorkerNode
        from worker.notify import jobs_lost

        worker_id = f"{socket.gethostname()}:{pid}"
        try:
            with session_scope() as session:
                node = session.get(WorkerNode, worker_id)
                if node is not None:
                    node.status, node.current_job_id = "offline", None
                reaped = reap_lost_jobs(session, worker_id=worker_id)
            wake(reaped.requeued)
            jobs_lost(reaped.lost_ids)
        except Exception:
            log.exception("could not reap the jobs of the lost local worker")

    def _sweep(self) -> None:
        from worker.registry import sweep

        try:
            sweep()
        except Exception:
            log.exception("sweep for lost jobs failed")

    def stop(self) -> None:
        """Warm shutdown: a running job stops at a checkpoint; then the worker exits. Nothing is left."""
        self.stopping.set()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=self.grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def exit_on_sigterm() -> None:
    """SIGTERM (docker stop, systemd) ends `ftstudio up` like Ctrl-C: through its `finally`, which stops
    the worker. uvicorn handles SIGTERM while serving, then re-raises it after shutting down; with the
    default handler that killed the process before its cleanup ran and orphaned the worker (issue 9)."""

    def handle(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handle)
