"""Evaluation queries: eval jobs, their scores, and the cache lookup for an identical finished evaluation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import Job, JobKind, JobStatus, Score
from app.models.base import owned_by

# An identical evaluation in one of these states is reused instead of running again: a succeeded one is
# the cache, a queued/running one will become it (two clicks must not run the base model twice).
REUSABLE = (JobStatus.SUCCEEDED, JobStatus.RUNNING, JobStatus.QUEUED)


class EvaluationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, evaluation_id: int, owner_id: int | None) -> Job | None:
        query = (
            select(Job)
            .where(Job.id == evaluation_id, owned_by(Job, owner_id), Job.kind == JobKind.EVAL)
            .options(selectinload(Job.checkpoints))
        )
        return self.session.scalars(query).first()

    def list(self, owner_id: int | None, *, parent_job_id: int | None = None, limit: int = 200) -> list[Job]:
        query = (
            select(Job)
            .where(owned_by(Job, owner_id), Job.kind == JobKind.EVAL)
            .options(selectinload(Job.checkpoints))
            .order_by(Job.id.desc())
            .limit(limit)
        )
        if parent_job_id is not None:
            query = query.where(Job.parent_job_id == parent_job_id)
        return list(self.session.scalars(query))

    def scores(self, job_ids: list[int]) -> dict[int, list[Score]]:
        out: dict[int, list[Score]] = {job_id: [] for job_id in job_ids}
        if not job_ids:
            return out
        query = select(Score).where(Score.job_id.in_(job_ids)).order_by(Score.id)
        for score in self.session.scalars(query):
            out[score.job_id].append(score)
        return out

    def find_identical(self, owner_id: int, config: dict[str, Any]) -> Job | None:
        """The newest reusable eval job whose child config equals ``config`` (same model, adapter, suite).

        Compared in Python: JSON column equality is not portable between SQLite and PostgreSQL, and an
        owner has at most hundreds of evaluations."""
        query = (
            select(Job)
            .where(owned_by(Job, owner_id), Job.kind == JobKind.EVAL, Job.status.in_(REUSABLE))
            .order_by(Job.id.desc())
        )
        for job in self.session.scalars(query):
            if job.config == config:
                # Prefer a finished one: scan on for a succeeded twin before settling for one in flight.
                if job.status == JobStatus.SUCCEEDED:
                    return job
                in_flight = job
                break
        else:
            return None
        for job in self.session.scalars(query.where(Job.status == JobStatus.SUCCEEDED)):
            if job.config == config:
                return job
        return in_flight
