"""Runs one job: starts its child process, turns its files into rows, keeps the heartbeat, obeys cancel,
and always leaves the job in a final state with no process behind.

The database is the only source of truth: the web writes ``cancel_requested``; this loop reads it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from app.db import session_scope
from app.jobs.repository import JobRepository
from app.jobs.scheduling import claim_next, requeue, wake
from app.models import Job, JobStatus, WorkerNode, utcnow
from app.settings import get_settings
from worker.child_process import ChildProcess, log_tail
from worker.event_sink import EventSink, logged_steps, new_steps_only
from worker.job_kinds import CANCEL_HOOKS, SPEC_BUILDERS, success_hook
from worker.lost_run import recover_unreported_checkpoint, step_of
from worker.metrics_tail import MetricsTail
from worker.notify import job_reached_final_state
from worker.orphan_guard import SUPERVISOR_PID_ENV
from worker.tasks.test_kinds import test_kind_builder

log = logging.getLogger("ftstudio.worker")

# How often the supervisor turns new child events into rows (and live updates): bounds step-to-browser
# latency; one small transaction per poll per running job.
POLL_SECONDS = 0.25
# Set when the worker itself is asked to stop (Ctrl-C on `ftstudio up`, SIGTERM to the worker): the job's
# child is stopped at a checkpoint and the job marked interrupted, resumable.
shutdown_requested = threading.Event()
_prebuilt: set[tuple[str, ...]] = set()


def run_job(job_id: int | None = None, worker_id: str | None = None) -> str:
    """A wake-up: claim the best eligible queued job from the database, run it, repeat until none is left
    (or the worker drains or stops). `job_id` is only the message's hint. Returns the last final status."""
    if worker_id is None:  # no registered worker (called directly): run the named job if still queued
        return _run_named(job_id) if job_id is not None else "idle"
    last = "idle"
    while not shutdown_requested.is_set():
        with session_scope() as session:
            claimed = claim_next(session, worker_id)
        if claimed is None:
            return last
        try:
            last = run_claimed(claimed, worker_id)
        finally:
            _set_current_job(worker_id, None)
    return last


def _run_named(job_id: int) -> str:
    with session_scope() as session:
        won = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(
                status=JobStatus.RUNNING,
                started_at=utcnow(),
                heartbeat_at=utcnow(),
                attempts=Job.attempts + 1,
            )
        ).rowcount
    return run_claimed(job_id, None) if won == 1 else "taken"


def _set_current_job(worker_id: str, job_id: int | None) -> None:
    try:
        with session_scope() as session:
            session.execute(
                update(WorkerNode).where(WorkerNode.id == worker_id).values(current_job_id=job_id)
            )
    except Exception:  # the heartbeat refreshes it anyway
        log.exception("could not record the current job of worker %s", worker_id)


def run_claimed(job_id: int, worker_id: str | None) -> str:
    """Runs a job this worker has claimed (status running, attempts counted). Never raises for a job's own
    failure: that is written to its row."""
    settings = get_settings()
    with session_scope() as session:
        job = JobRepository(session).get(job_id)
        if job is None:
            return "missing"
        run_dir = settings.runs_dir / f"job-{job.id}"
        run_dir.mkdir(parents=True, exist_ok=True)
        job.run_dir = str(run_dir)
        attempt = job.attempts or 1
        if attempt > 1:  # the lost run may have saved checkpoints its rows do not name yet
            recover_unreported_checkpoint(session, job, run_dir)
        resume = (job.config or {}).get("resume_from_checkpoint")
        if resume:
            job.result = {**(job.result or {}), "first_step": step_of(resume)}
    if attempt > 1:
        # The earlier run's events are already rows: the new run starts a fresh metrics file, the old one
        # is kept beside it for the record.
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists():
            metrics.replace(run_dir / f"metrics.run{attempt - 1}.jsonl")
        (run_dir / "error.json").unlink(missing_ok=True)
    try:
        return _supervise(job_id, run_dir, worker_id)
    except Exception as exc:  # a bug here must not leave the job running
        log.exception("supervising job %s failed", job_id)
        _finish(job_id, JobStatus.FAILED, f"The worker failed while running this job: {exc}")
        return JobStatus.FAILED


def _supervise(job_id: int, run_dir: Path, worker_id: str | None = None) -> str:
    settings = get_settings()
    with session_scope() as session:
        job = JobRepository(session).get(job_id)
        assert job is not None
        builder = SPEC_BUILDERS.get(job.kind) or test_kind_builder(job.kind)
        if builder is None:
            raise ValueError(f"no runner for job kind '{job.kind}'")
        try:
            spec = builder(job, run_dir)
        except ValueError as exc:
            job.status, job.error, job.finished_at = JobStatus.FAILED, str(exc), utcnow()
            return JobStatus.FAILED
        prebuild = _prebuild_argv(job)
        # Rows already logged (an earlier run of this job): a resumed run never logs a step twice.
        seen = logged_steps(session, job_id)
    env = {
        **os.environ,
        **spec.env,
        "PYTHONUNBUFFERED": "1",
        "FTSTUDIO_JOB_ID": str(job_id),
        SUPERVISOR_PID_ENV: str(os.getpid()),
    }
    if prebuild:
        _prebuild_once(prebuild, env, run_dir)
    # Not set: MALLOC_MMAP_THRESHOLD_=131072 keeps a CPU run's RSS at its live memory (planner_cpu.py)
    # but costs ~40 % of CPU training speed (SmolLM2-135M, 2 x 384 tokens: 4.85 -> 6.9 s/step, measured).
    child = ChildProcess(spec.argv, env=env, log_path=run_dir / "train.log")
    tail, sink = MetricsTail(run_dir / "metrics.jsonl"), EventSink(job_id, run_dir)
    last_beat = 0.0
    stop_reason: str | None = None
    pending: list[dict] = []
    try:
        while True:
            rc = child.wait(POLL_SECONDS)
            pending.extend(new_steps_only(tail.read_new(), seen))
            now = time.monotonic()
            try:
                with session_scope() as session:
                    job = JobRepository(session).get(job_id)
                    assert job is not None
                    if pending:
                        sink.apply(session, job, pending)
                    if now - last_beat >= settings.heartbeat_interval_seconds:
                        job.heartbeat_at, last_beat = utcnow(), now
                    if job.status != JobStatus.RUNNING or (worker_id and job.worker_id != worker_id):
                        # Another worker's sweep judged this worker lost and the job runs elsewhere now.
                        stop_reason = "lost"
                    elif rc is None and stop_reason is None:
                        if job.cancel_requested:
                            stop_reason = "cancel"
                        elif shutdown_requested.is_set():
                            stop_reason = "shutdown"
                pending = []
            except OperationalError:
                # The database blinked (a restart, a failover): keep the events, try again next poll.
                log.warning("job %s: database unreachable; retrying", job_id, exc_info=True)
            if rc is not None:
                break
            if stop_reason == "lost":
                log.warning("job %s is no longer this worker's; stopping its child", job_id)
                child.reap_group()
                return "lost"
            if stop_reason:
                child.terminate()
                child.kill_if_overdue(settings.cancel_grace_seconds)
    finally:
        child.reap_group()
    with session_scope() as session:
        job = JobRepository(session).get(job_id)
        assert job is not None
        sink.apply(session, job, [*pending, *new_steps_only(tail.read_new(), seen)])
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


def _prebuild_argv(job: Job) -> list[str] | None:
    """DeepSpeed's CPU ops for a multi-process launch on a CPU worker (launch_command.prebuild_command)."""
    if job.kind != "train" or _has_gpu():
        return None
    from app.jobs.hyperparameters import TrainHyperparameters
    from worker.training.launch_command import needs_launcher, prebuild_command

    hp = TrainHyperparameters(**job.config["hyperparameters"])
    return prebuild_command(hp) if needs_launcher(hp) else None


def _has_gpu() -> bool:
    from worker.registry import describe_devices

    return any(d.get("kind") == "gpu" for d in describe_devices())


def _prebuild_once(argv: list[str], env: dict[str, str], run_dir: Path) -> None:
    """Once per worker process and op set: N ranks compiling one op at once on a fresh cache failed once."""
    key = tuple(argv)
    if key in _prebuilt:
        return
    with (run_dir / "train.log").open("ab") as log_file:
        log_file.write(b"ftstudio: building DeepSpeed ops before the first multi-process launch\n")
        log_file.flush()
        done = subprocess.run(
            argv, env=env, stdout=log_file, stderr=subprocess.STDOUT, timeout=900, check=False
        )
    if done.returncode == 0:
        _prebuilt.add(key)
    else:
        log.warning("prebuilding DeepSpeed ops exited %s; the launch will build them", done.returncode)


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
    requeued: list[Job] = []
    with session_scope() as session:
        job = JobRepository(session).get(job_id)
        if job is None:
            return
        job.status, job.finished_at, job.heartbeat_at = status, utcnow(), utcnow()
        if error:
            job.error = error[:20000]
        if status == JobStatus.INTERRUPTED:
            # The worker is stopping (drain, deploy, Ctrl-C): the job continues on the next worker.
            requeued = [job] if requeue(session, job, "The worker was stopped while this job ran.") else []
    wake(requeued)
    job_reached_final_state(job_id, status)  # live watchers + webhooks (worker/notify.py)
