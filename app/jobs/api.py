from __future__ import annotations

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse

from app.db import session_factory
from app.deps import CurrentUser, SessionDep
from app.errors import NotFound
from app.jobs.compare import CompareRead, compare_jobs, parse_ids
from app.jobs.event_stream import job_event_stream
from app.jobs.logs import MAX_TAIL, JobLogRead, job_log_tail
from app.jobs.repository import JobRepository
from app.jobs.schemas import JobEventRead, JobRead, MetricRead, ResumeRequest, TrainJobCreate
from app.jobs.service import JobService

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=JobRead)
def create_job(request: TrainJobCreate, session: SessionDep, user: CurrentUser) -> JobRead:
    service = JobService(session)
    job = service.create_train_job(user.user_id, request)
    return service.read(job.id, user.scope_owner_id)


@router.get("", response_model=list[JobRead])
def list_jobs(
    session: SessionDep, user: CurrentUser, kind: str | None = None, status: str | None = None
) -> list[JobRead]:
    return JobService(session).list(user.scope_owner_id, kind=kind, status=status)


@router.get("/compare", response_model=CompareRead)
def compare(
    session: SessionDep, user: CurrentUser, ids: list[str] = Query(description="Job ids: ids=1,2,3")
) -> CompareRead:
    """Two or more jobs' loss curves, configs and scores side by side (``differs`` marks what changed)."""
    return compare_jobs(session, parse_ids(ids), user.scope_owner_id)


@router.get("/{job_id}", response_model=JobRead)
def get_job(job_id: int, session: SessionDep, user: CurrentUser) -> JobRead:
    return JobService(session).read(job_id, user.scope_owner_id)


@router.get("/{job_id}/metrics", response_model=list[MetricRead])
def get_metrics(
    job_id: int, session: SessionDep, user: CurrentUser, after_id: int = 0
) -> list[MetricRead]:
    JobService(session).get(job_id, user.scope_owner_id)  # 404 for unknown or foreign jobs
    return [MetricRead.model_validate(m) for m in JobRepository(session).metrics(job_id, after_id=after_id)]


@router.get("/{job_id}/job-events", response_model=list[JobEventRead])
def get_job_events(job_id: int, session: SessionDep, user: CurrentUser) -> list[JobEventRead]:
    JobService(session).get(job_id, user.scope_owner_id)
    return [JobEventRead.model_validate(e) for e in JobRepository(session).events(job_id)]


@router.get("/{job_id}/logs", response_model=JobLogRead)
def get_logs(
    job_id: int, session: SessionDep, user: CurrentUser, tail: int = Query(default=100, ge=1, le=MAX_TAIL)
) -> JobLogRead:
    """The last ``tail`` lines of the job's child log (its stdout and stderr)."""
    job = JobRepository(session).get(job_id, user.scope_owner_id)
    if job is None:
        raise NotFound(f"Job {job_id} does not exist.")
    return job_log_tail(job, tail)


@router.get("/{job_id}/events")
def stream_events(job_id: int, request: Request, user: CurrentUser) -> StreamingResponse:
    """Server-sent events: `progress` (the job), `metric` (new metric rows), `job_event`, `end` when it
    finished. No request-wide session: the stream would pin a pooled connection while it waits."""
    with session_factory()() as session:
        if JobRepository(session).get(job_id, user.scope_owner_id) is None:
            raise NotFound(f"Job {job_id} does not exist.")
    return StreamingResponse(
        job_event_stream(job_id, user.scope_owner_id, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/{job_id}/cancel", response_model=JobRead)
def cancel_job(job_id: int, session: SessionDep, user: CurrentUser) -> JobRead:
    service = JobService(session)
    service.cancel(job_id, user.scope_owner_id)
    return service.read(job_id, user.scope_owner_id)


@router.post("/{job_id}/resume", status_code=status.HTTP_201_CREATED, response_model=JobRead)
def resume_job(job_id: int, request: ResumeRequest, session: SessionDep, user: CurrentUser) -> JobRead:
    service = JobService(session)
    job = service.resume(job_id, user.scope_owner_id, request)
    return service.read(job.id, user.scope_owner_id)
