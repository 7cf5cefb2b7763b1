"""Turns a job row into what users see: progress, percent and an ETA."""

from __future__ import annotations

from datetime import datetime

from app.jobs.schemas import CheckpointRead, JobRead, Progress
from app.models import Job, JobStatus, utcnow


def estimate_eta_seconds(job: Job) -> float | None:
    """Remaining steps times the mean seconds per step since training began (loading excluded)."""
    if job.status != JobStatus.RUNNING or not job.started_at or not job.total_steps or job.step <= 0:
        return None
    first_step = int((job.result or {}).get("first_step", 0))
    done = job.step - first_step
    if done <= 0:
        return None
    began = job.started_at
    if train_started := (job.result or {}).get("train_started_at"):
        began = datetime.fromisoformat(train_started)
    elapsed = (utcnow() - began).total_seconds()
    return max(0.0, elapsed / done * (job.total_steps - job.step))


def build_progress(job: Job) -> Progress:
    percent = None
    if job.total_steps:
        percent = (
            100.0 if job.status == JobStatus.SUCCEEDED else min(100.0, 100.0 * job.step / job.total_steps)
        )
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
