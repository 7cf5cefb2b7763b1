from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import StreamingResponse

from app.deps import CurrentUser, SessionDep
from app.jobs.event_stream import job_event_stream
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


@router.get("/{job_id}/events")
def stream_events(
    job_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> StreamingResponse:
    """Server-sent events: `progress` (the job), `metric` (new metric rows), `end` when it finished."""
    JobService(session).get(job_id, user.scope_owner_id)
    session.close()  # the stream reads with its own short sessions; this one must not hold a connection
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
