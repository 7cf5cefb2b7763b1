"""Turns a job row into what users see: progress, percent and an ETA."""

from __future__ import annotations

from datetime import datetime

from app.jobs.schemas import CheckpointRead, JobRead, Progress
from app.models import Job, JobStatus, utcnow


def _train_began(job: Job) -> datetime | None:
    """When the training loop began (model loading excluded), else when the job started."""
    if train_started := (job.result or {}).get("train_started_at"):
        return datetime.fromisoformat(train_started)
    return job.started_at


def _budget_seconds(job: Job) -> tuple[float, float] | None:
    """(seconds trained, seconds of budget) of a job with a time budget (`max_train_minutes`, counted from
    the training loop's start as the child counts it); None without one or before the loop has started."""
    minutes = ((job.config or {}).get("hyperparameters") or {}).get("max_train_minutes")
    train_started = (job.result or {}).get("train_started_at")
    if not minutes or not train_started:
        return None
    elapsed = (utcnow() - datetime.fromisoformat(train_started)).total_seconds()
    return elapsed, float(minutes) * 60.0


def estimate_eta_seconds(job: Job) -> float | None:
    """Remaining steps times the mean seconds per step since training began (loading excluded). A job with
    a time budget ends by then at the latest, and before its step count is set the budget is all we know."""
    began = _train_began(job)
    if job.status != JobStatus.RUNNING or began is None:
        return None
    budget = _budget_seconds(job)
    budget_left = None if budget is None else max(0.0, budget[1] - budget[0])
    first_step = int((job.result or {}).get("first_step", 0))
    done = job.step - first_step
    if not job.total_steps or done <= 0:
        return budget_left
    elapsed = (utcnow() - began).total_seconds()
    by_steps = max(0.0, elapsed / done * (job.total_steps - job.step))
    return by_steps if budget_left is None else min(by_steps, budget_left)


def build_progress(job: Job) -> Progress:
    percent = None
    if job.total_steps:
        percent = (
            100.0 if job.status == JobStatus.SUCCEEDED else min(100.0, 100.0 * job.step / job.total_steps)
        )
    elif job.status == JobStatus.RUNNING and (budget := _budget_seconds(job)) is not None:
        # A budget run before it has set its step count: the share of the budget spent (it ends by then).
        percent = min(99.0, 100.0 * budget[0] / budget[1])
    return Progress(
        step=job.step,
        total_steps=job.total_steps,
        loss=job.loss,
        eta_seconds=estimate_eta_seconds(job),
        percent=percent,
    )


def build_job_read(job: Job) -> JobRead:
    return JobRead(
        id=job.id,
        kind=job.kind,
        status=job.status,
        name=job.name,
        method=job.method,
        base_model=job.base_model_id,
        dataset_version_id=job.dataset_version_id,
        parent_job_id=job.parent_job_id,
        config=job.config or {},
        progress=build_progress(job),
        checkpoints=[CheckpointRead.model_validate(c) for c in job.checkpoints],
        error=job.error,
        cancel_requested=job.cancel_requested,
        peak_memory_bytes=job.peak_memory_bytes,
        predicted_peak_bytes=job.predicted_peak_bytes,
        result=job.result or {},
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        heartbeat_at=job.heartbeat_at,
        worker_id=job.worker_id,
    )
