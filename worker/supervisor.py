"""Runs one job: starts its child process, turns its files into rows, keeps the heartbeat, obeys cancel,
and always leaves the job in a final state with no process behind.

The database is the only source of truth: the web writes ``cancel_requested``; this loop reads it."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from app.db import session_scope
from app.jobs.repository import JobRepository
from app.models import Job, JobStatus, utcnow
from app.settings import get_settings
from worker.child_process import ChildProcess, log_tail
from worker.event_sink import EventSink
from worker.job_kinds import CANCEL_HOOKS, SPEC_BUILDERS, success_hook
from worker.metrics_tail import MetricsTail

log = logging.getLogger("ftstudio.worker")

POLL_SECONDS = 0.5
# Set when the worker itself is asked to stop (Ctrl-C on `ftstudio up`, SIGTERM to the worker): the job's
# child is stopped at a checkpoint and the job marked interrupted, resumable.
shutdown_requested = threading.Event()


def run_job(job_id: int, worker_id: str | None = None) -> str:
    """Returns the final status. Never raises for a job's own failure: that is written to its row."""
    settings = get_settings()
    with session_scope() as session:
        job = JobRepository(session).get(job_id)
        if job is None:
            log.warning("job %s is not in the database; dropping the message", job_id)
            return "missing"
        if job.status != JobStatus.QUEUED:
            # Cancelled while queued, or already taken: the DB, not the queue, decides.
            return str(job.status)
        run_dir = settings.runs_dir / f"job-{job.id}"
        run_dir.mkdir(parents=True, exist_ok=True)
        job.status, job.started_at, job.heartbeat_at = JobStatus.RUNNING, utcnow(), utcnow()
        job.worker_id, job.run_dir = worker_id, str(run_dir)
        resume = (job.config or {}).get("resume_from_checkpoint")
        if resume:
            job.result = {**(job.result or {}), "first_step": _step_of(resume)}
    try:
        return _supervise(job_id, run_dir)
    except Exception as exc:  # a bug here must not leave the job running
        log.exception("supervising job %s failed", job_id)
        _finish(job_id, JobStatus.FAILED, f"The worker failed while running this job: {exc}")
        return JobStatus.FAILED


def _step_of(checkpoint_path: str) -> int:
    name = Path(checkpoint_path).name
    return int(name.rsplit("-", 1)[-1]) if name.rsplit("-", 1)[-1].isdigit() else 0


def _supervise(job_id: int, run_dir: Path) -> str:
    settings = get_settings()
    with session_scope() as session:
        job = JobRepository(session).get(job_id)
        assert job is not None
        builder = SPEC_BUILDERS.get(job.kind)
        if builder is None:
            raise ValueError(f"no runner for job kind '{job.kind}'")
        try:
            spec = builder(job, run_dir)
        except ValueError as exc:
            job.status, job.error, job.finished_at = JobStatus.FAILED, str(exc), utcnow()
            return JobStatus.FAILED
    env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1", "FTSTUDIO_JOB_ID": str(job_id)}
    # Not set: MALLOC_MMAP_THRESHOLD_=131072 keeps a CPU run's RSS at its live memory (planner_cpu.py)
    # but costs ~40 % of CPU training speed (SmolLM2-135M, 2 x 384 tokens: 4.85 -> 6.9 s/step, measured).
    child = ChildProcess(spec.argv, env=env, log_path=run_dir / "train.log")
    tail, sink = MetricsTail(run_dir / "metrics.jsonl"), EventSink(job_id, run_dir)
    last_beat = 0.0
    stop_reason: str | None = None
    try:
        while True:
            rc = child.wait(POLL_SECONDS)
            events = tail.read_new()
            now = time.monotonic()
            with session_scope() as session:
                job = JobRepository(session).get(job_id)
                assert job is not None
                if events:
                    sink.apply(session, job, events)
                if now - last_beat >= settings.heartbeat_interval_seconds:
                    job.heartbeat_at, last_beat = utcnow(), now
                if rc is None and stop_reason is None:
                    if job.cancel_requested:
                        stop_reason = "cancel"
                    elif shutdown_requested.is_set():
                        stop_reason = "shutdown"
            if rc is not None:
                break
            if stop_reason:
                child.terminate()
                child.kill_if_overdue(settings.cancel_grace_seconds)
    finally:
        child.reap_group()
    with session_scope() as session:
        job = JobRepository(session).get(job_id)
        assert job is not None
        sink.apply(session, job, tail.read_new())
    status, error = _final_status(rc, stop_reason, sink, run_dir)
    if status == JobStatus.SUCCEEDED and (hook := success_hook(_kind_of(job_id))):
        try:
            with session_scope() as session:
                job = JobRepository(session).get(job_id)
                hook(session, job, run_dir)
        except Exception as exc:
            log.exception("result hook of job %s failed", job_id)
            status, error = JobStatus.FAILED, f"The job ran but its results could not be saved: {exc}"
    elif status == JobStatus.CANCELLED and (hook := success_hook(_kind_of(job_id), CANCEL_HOOKS)):
        try:  # a cancelled run keeps what it made; the job stays cancelled either way
            with session_scope() as session:
                hook(session, JobRepository(session).get(job_id), run_dir)
        except Exception as exc:
            log.exception("cancel hook of job %s failed", job_id)
            error = f"The job was cancelled and what it had made could not be saved: {exc}"
    _finish(job_id, status, error)
    return status


def _kind_of(job_id: int) -> str:
    with session_scope() as session:
        job = session.get(Job, job_id)
        return job.kind if job else ""


def _final_status(rc: int, stop_reason: str | None, sink: EventSink, run_dir: Path) -> tuple[str, str | None]:
    end_status = (sink.end_event or {}).get("status")
    if stop_reason == "cancel":
        return JobStatus.CANCELLED, None
    if stop_reason == "shutdown":
        return (
            JobStatus.INTERRUPTED,
            "The worker was stopped while this job ran. Resume it from its last checkpoint.",
        )
    if rc == 0 and end_status == "succeeded":
        return JobStatus.SUCCEEDED, None
    # Judged by the end event, not the exit code: torchrun exits 1 when its ranks stop on SIGTERM.
    if end_status in ("cancelled", "paused", "stopped"):
        reason = (sink.end_event or {}).get("reason")
        return JobStatus.CANCELLED, reason
    error_file = run_dir / "error.json"
    if error_file.is_file():
        try:
            return JobStatus.FAILED, str(json.loads(error_file.read_text(encoding="utf-8"))["error"])
        except (ValueError, KeyError):
            pass
    if rc is not None and rc < 0:
        what = f"was killed by signal {-rc}" + (" (out of memory?)" if -rc == 9 else "")
    else:
        what = f"exited with code {rc}" + ("" if rc else " without reporting an end")
    return (
        JobStatus.FAILED,
        f"The job's process {what}. Last lines of its log:\n{log_tail(run_dir / 'train.log')}",
    )


def _finish(job_id: int, status: str, error: str | None) -> None:
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            return
        job.status, job.finished_at, job.heartbeat_at = status, utcnow(), utcnow()
        if error:
            job.error = error[:20000]
