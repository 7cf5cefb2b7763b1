from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from app.models import Job, JobEvent, JobMetric, JobStatus


class JobRepository:
    """All job queries, scoped by owner where a user asks (the worker passes owner_id=None)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, job: Job) -> Job:
        self.session.add(job)
        self.session.flush()
        return job

    def get(self, job_id: int, owner_id: int | None = None) -> Job | None:
        query = select(Job).where(Job.id == job_id).options(selectinload(Job.checkpoints))
        if owner_id is not None:
            query = query.where(Job.owner_id == owner_id)
        return self.session.scalars(query).first()

    def list(
        self, owner_id: int | None, *, kind: str | None = None, status: str | None = None, limit: int = 200
    ) -> list[Job]:
        query = select(Job).options(selectinload(Job.checkpoints)).order_by(Job.id.desc()).limit(limit)
        if owner_id is not None:
            query = query.where(Job.owner_id == owner_id)
        if kind:
            query = query.where(Job.kind == kind)
        if status:
            query = query.where(Job.status == status)
        return list(self.session.scalars(query))

    def metrics(self, job_id: int, *, after_id: int = 0) -> list[JobMetric]:
        query = (
            select(JobMetric)
            .where(JobMetric.job_id == job_id, JobMetric.id > after_id)
            .order_by(JobMetric.id)
        )
        return list(self.session.scalars(query))

    def events(self, job_id: int, *, after_id: int = 0) -> list[JobEvent]:
        query = (
            select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.id > after_id).order_by(JobEvent.id)
        )
        return list(self.session.scalars(query))

    def mark_stale_running_interrupted(self, older_than: datetime, now: datetime) -> int:
        """Running jobs whose worker stopped beating are interrupted (resumable), never left running."""
        result = self.session.execute(
            update(Job)
            .where(Job.status == JobStatus.RUNNING, Job.heartbeat_at < older_than)
            .values(
                status=JobStatus.INTERRUPTED,
                finished_at=now,
                error="The worker running this job stopped answering (heartbeat lost). "
                "Resume it from its last checkpoint.",
            )
        )
        return result.rowcount or 0
