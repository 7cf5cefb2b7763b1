"""What the admin steers: workers (drain, undrain) and the queue (order, priority, top, re-queue, cancel).
Admins see every owner's jobs, so the job queries here pass owner_id=None."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound
from app.jobs.progress import build_job_read, estimate_eta_seconds
from app.jobs.scheduling import queue_in_order, queue_slots, requeue, wake
from app.jobs.schemas import JobRead
from app.jobs.service import JobService, with_queue_fields
from app.models import Job, JobStatus, WorkerNode, utcnow
from app.settings import get_settings

# Workers gone for longer than this leave the list (their rows stay, for the jobs that name them).
FORGET_OFFLINE_AFTER = timedelta(days=1)
PRIORITY_LIMIT = 1_000_000


class WorkerRead(BaseModel):
    id: str
    hostname: str
    pid: int
    status: str = Field(description="online | offline | draining")
    devices: list[dict[str, Any]]
    current_job_id: int | None
    queues: list[str]
    draining: bool
    last_seen_at: Any
    started_at: Any


class PriorityRequest(BaseModel):
    priority: int = Field(ge=-PRIORITY_LIMIT, le=PRIORITY_LIMIT, description="Higher starts first.")


def worker_status(node: WorkerNode) -> str:
    stale = utcnow() - timedelta(seconds=get_settings().heartbeat_timeout_seconds)
    if node.status == "offline" or node.last_seen_at < stale:
        return "offline"
    return "draining" if node.draining else "online"


def worker_read(node: WorkerNode) -> WorkerRead:
    status = worker_status(node)
    return WorkerRead(
        id=node.id,
        hostname=node.hostname,
        pid=node.pid,
        status=status,
        devices=node.devices or [],
        current_job_id=node.current_job_id if status != "offline" else None,
        queues=node.queues or [],
        draining=bool(node.draining),
        last_seen_at=node.last_seen_at,
        started_at=node.started_at,
    )


class AdminService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.jobs = JobService(session)

    # --- workers -------------------------------------------------------------------------------
    def workers(self) -> list[WorkerRead]:
        since = utcnow() - FORGET_OFFLINE_AFTER
        nodes = self.session.scalars(
            select(WorkerNode).where(WorkerNode.last_seen_at >= since).order_by(WorkerNode.started_at.desc())
        ).all()
        reads = [worker_read(node) for node in nodes]
        order = {"online": 0, "draining": 1, "offline": 2}
        return sorted(reads, key=lambda w: order[w.status])

    def set_draining(self, worker_id: str, draining: bool) -> WorkerRead:
        node = self.session.get(WorkerNode, worker_id)
        if node is None:
            raise NotFound(f"Worker {worker_id} does not exist.")
        node.draining = draining
        self.session.commit()
        if not draining:
            # Undrained: it may take queued jobs again right away.
            wake(queue_in_order(self.session)[:1])
        return worker_read(node)

    # --- the queue -----------------------------------------------------------------------------
    def queue(self) -> list[JobRead]:
        ordered = queue_in_order(self.session, with_checkpoints=True)
        slots = queue_slots(self.session)
        return [with_queue_fields(build_job_read(job), job, slots) for job in ordered]

    def running(self) -> list[JobRead]:
        jobs = self.session.scalars(
            select(Job).where(Job.status == JobStatus.RUNNING).order_by(Job.started_at)
        ).all()
        return [with_queue_fields(build_job_read(job), job, {}) for job in jobs]

    def _queued(self, job_id: int) -> Job:
        job = self.jobs.get(job_id, None)
        if job.status != JobStatus.QUEUED:
            raise Conflict(f"Job {job_id} is {job.status}, not queued.")
        return job

    def set_priority(self, job_id: int, priority: int) -> JobRead:
        self._queued(job_id).priority = priority
        self.session.commit()
        return self.jobs.read(job_id, None)

    def top(self, job_id: int) -> JobRead:
        """Above every other queued job: the next free worker that can run it takes it."""
        job = self._queued(job_id)
        highest = self.session.scalar(
            select(func.max(Job.priority)).where(Job.status == JobStatus.QUEUED, Job.id != job_id)
        )
        if highest is not None and (job.priority or 0) <= highest:
            job.priority = min(PRIORITY_LIMIT, highest + 1)
        self.session.commit()
        return self.jobs.read(job_id, None)

    def requeue(self, job_id: int) -> JobRead:
        """A job that ended (failed, interrupted, cancelled) runs again, from its last checkpoint."""
        job = self.jobs.get(job_id, None)
        if not JobStatus(job.status).is_final or job.status == JobStatus.SUCCEEDED:
            raise Conflict(
                f"Job {job_id} is {job.status}; only failed, interrupted or cancelled jobs are re-queued."
            )
        requeue(self.session, job, "Re-queued by an admin.", force=True)
        self.session.commit()
        wake([job])
        return self.jobs.read(job_id, None)

    def cancel(self, job_id: int) -> JobRead:
        self.jobs.cancel(job_id, None)
        return self.jobs.read(job_id, None)

    def running_etas(self) -> dict[int, float | None]:
        jobs = self.session.scalars(select(Job).where(Job.status == JobStatus.RUNNING)).all()
        return {job.id: estimate_eta_seconds(job) for job in jobs}
