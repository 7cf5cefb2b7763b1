"""Small helpers of the queue tests: sleep jobs created through the service, started workers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from app.cli.runtime import worker_argv
from app.migrations import REPO_ROOT
from tests.spine.studio import Studio


def add_sleep_jobs(
    count: int,
    *,
    steps: int = 1,
    seconds: float = 0.0,
    priority: int = 0,
    queue: str | None = None,
    owner_id: int = 1,
) -> list[int]:
    """Queued "sleep" jobs (test-only kind), with their wake-up messages sent."""
    from app.db import session_scope
    from app.jobs.service import JobService

    ids = []
    with session_scope() as session:
        service = JobService(session)
        for _ in range(count):
            job = service.create_job(
                owner_id,
                kind="sleep",
                config={"steps": steps, "seconds_per_step": seconds},
                queue=queue,
                priority=priority,
            )
            ids.append(job.id)
    return ids


def start_worker(studio: Studio, name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    log = (studio.data_dir / f"{name}.log").open("ab")
    process = subprocess.Popen(
        worker_argv(studio.queue, loglevel="INFO"),
        cwd=REPO_ROOT,
        env={**studio.env, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    studio.cleanup.append(process)
    return process


def wait_registered(process: subprocess.Popen, timeout: float = 90.0) -> str:
    from app.db import session_scope
    from app.models import WorkerNode

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the worker exited early"
        with session_scope() as session:
            node = session.query(WorkerNode).filter_by(status="online", pid=process.pid).first()
            if node is not None:
                return node.id
        time.sleep(0.3)
    raise AssertionError("the worker did not register")


def stop_all(studio: Studio) -> None:
    for process in studio.cleanup:
        if isinstance(process, subprocess.Popen) and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def job_row(job_id: int) -> dict:
    from app.db import session_scope
    from app.models import Job

    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return {c.name: getattr(job, c.name) for c in Job.__table__.columns}


def wait_until(predicate, timeout: float, what: str, interval: float = 0.3):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def starts(data_dir: Path, job_id: int) -> int:
    path = data_dir / "runs" / f"job-{job_id}" / "starts.log"
    return len(path.read_text().splitlines()) if path.exists() else 0
