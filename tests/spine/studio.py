"""A whole studio for tests: its own data dir, database (SQLite or a fresh PostgreSQL database), broker
(Redis with a private queue, or the serverless filesystem broker) and a real Celery worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.cli.runtime import worker_argv
from app.migrations import REPO_ROOT

PG_ADMIN_URL = os.environ.get("FTSTUDIO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("FTSTUDIO_TEST_REDIS", "redis://127.0.0.1:6379/0")


def postgres_available() -> bool:
    import psycopg

    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3).ping())
    except redis.RedisError:
        return False


def create_pg_database() -> tuple[str, str]:
    """A fresh database per test session, so tests never see each other's rows. Returns (name, url)."""
    import psycopg

    name = f"ftstudio_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return name, f"{base}/{name}"


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Studio:
    mode: str  # "real" (PostgreSQL + Redis) or "embedded" (SQLite + filesystem broker)
    data_dir: Path
    env: dict[str, str]
    worker: subprocess.Popen | None = None
    cleanup: list = field(default_factory=list)

    @property
    def queue(self) -> str:
        return self.env["FTSTUDIO_DEFAULT_QUEUE"]

    def start_worker(self, timeout: float = 90.0) -> None:
        log = (self.data_dir / "worker.log").open("ab")
        self.worker = subprocess.Popen(
            worker_argv(self.queue, loglevel="INFO"),
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        from app.db import session_scope
        from app.models import WorkerNode

        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise RuntimeError(f"the worker exited early:\n{self.worker_log()}")
            with session_scope() as session:
                if session.query(WorkerNode).filter_by(status="online", pid=self.worker.pid).count():
                    return
            time.sleep(0.3)
        raise RuntimeError(f"the worker did not register within {timeout}s:\n{self.worker_log()}")

    def worker_log(self) -> str:
        path = self.data_dir / "worker.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def stop_worker(self) -> None:
        if self.worker is None or self.worker.poll() is not None:
            return
        self.worker.send_signal(signal.SIGTERM)
        try:
            self.worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()


def studio_env(mode: str, data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "FTSTUDIO_DATA_DIR": str(data_dir),
            "FTSTUDIO_DEFAULT_QUEUE": f"test-{uuid.uuid4().hex[:8]}",
            "FTSTUDIO_HEARTBEAT_INTERVAL_SECONDS": "1",
            "FTSTUDIO_CANCEL_GRACE_SECONDS": "20",
            "PYTHONPATH": str(REPO_ROOT),
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    if mode == "real":
        assert database_url
        env["DATABASE_URL"] = database_url
        env["REDIS_URL"] = REDIS_TEST_URL
    return env


def wait_for_job(
    client: httpx.Client, job_id: int, statuses: set[str], timeout: float = 300.0, predicate=None
) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in statuses and (predicate is None or predicate(job)):
            return job
        if job["status"] not in ("queued", "running") and job["status"] not in statuses:
            raise AssertionError(f"job {job_id} ended {job['status']}: {job.get('error')}")
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not reach {statuses} within {timeout}s; last: {job}")


def processes_of_job(data_dir: Path, job_id: int) -> list[int]:
    """PIDs whose command line names this job's run folder (the training child and anything it started).
    The full path matters: other studios on the machine (parallel test runs) have jobs with the same id."""
    import psutil

    marker = str(data_dir.resolve() / "runs" / f"job-{job_id}" / "config.json")
    pids = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if marker in cmdline:
            pids.append(proc.info["pid"])
    return pids


def python() -> str:
    return sys.executable
