"""Server-sent events for one job, read from the database (the one source of truth) once a second."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import Request

from app.db import session_factory
from app.jobs.progress import build_job_read
from app.jobs.repository import JobRepository
from app.jobs.schemas import MetricRead
from app.models import JobStatus

POLL_SECONDS = 1.0


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def _snapshot(job_id: int, owner_id: int, after_id: int) -> tuple[str | None, list[MetricRead], bool]:
    with session_factory()() as session:
        repo = JobRepository(session)
        job = repo.get(job_id, owner_id)
        if job is None:
            return None, [], True
        job_json = build_job_read(job).model_dump_json()
        metrics = [MetricRead.model_validate(m) for m in repo.metrics(job_id, after_id=after_id)]
        return job_json, metrics, JobStatus(job.status).is_final


async def job_event_stream(job_id: int, owner_id: int, request: Request) -> AsyncIterator[str]:
    last_metric_id, last_job_json = 0, None
    while True:
        job_json, metrics, final = await asyncio.to_thread(_snapshot, job_id, owner_id, last_metric_id)
        if job_json is None:
            yield _sse("end", {"reason": "not found"})
            return
        for metric in metrics:
            last_metric_id = metric.id
            yield _sse("metric", metric.model_dump())
        if job_json != last_job_json:
            last_job_json = job_json
            yield f"event: progress\ndata: {job_json}\n\n"
        if final:
            yield _sse("end", {"status": json.loads(job_json)["status"]})
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_SECONDS)
