"""`/api/v1/admin/...`: workers and the queue, for admins (AdminUser: 403 for members)."""

from __future__ import annotations

from fastapi import APIRouter

from app.admin.service import AdminService, PriorityRequest, WorkerRead
from app.deps import AdminUser, SessionDep
from app.jobs.schemas import JobRead

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/workers", response_model=list[WorkerRead])
def list_workers(session: SessionDep, _admin: AdminUser) -> list[WorkerRead]:
    """Every worker seen in the last day: status online | offline | draining, its devices, its job."""
    return AdminService(session).workers()


@router.post("/workers/{worker_id}/drain", response_model=WorkerRead)
def drain_worker(worker_id: str, session: SessionDep, _admin: AdminUser) -> WorkerRead:
    """The worker finishes its current job and takes no more."""
    return AdminService(session).set_draining(worker_id, True)


@router.post("/workers/{worker_id}/undrain", response_model=WorkerRead)
def undrain_worker(worker_id: str, session: SessionDep, _admin: AdminUser) -> WorkerRead:
    return AdminService(session).set_draining(worker_id, False)


@router.get("/queue", response_model=list[JobRead])
def queue(session: SessionDep, _admin: AdminUser) -> list[JobRead]:
    """The queued jobs in the order they will start (queue_position 1 first)."""
    return AdminService(session).queue()


@router.get("/running", response_model=list[JobRead])
def running(session: SessionDep, _admin: AdminUser) -> list[JobRead]:
    return AdminService(session).running()


@router.post("/jobs/{job_id}/top", response_model=JobRead)
def move_to_top(job_id: int, session: SessionDep, _admin: AdminUser) -> JobRead:
    return AdminService(session).top(job_id)


@router.post("/jobs/{job_id}/priority", response_model=JobRead)
def set_priority(job_id: int, request: PriorityRequest, session: SessionDep, _admin: AdminUser) -> JobRead:
    """Higher priority starts first; FIFO within one priority."""
    return AdminService(session).set_priority(job_id, request.priority)


@router.post("/jobs/{job_id}/requeue", response_model=JobRead)
def requeue(job_id: int, session: SessionDep, _admin: AdminUser) -> JobRead:
    return AdminService(session).requeue(job_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobRead)
def cancel(job_id: int, session: SessionDep, _admin: AdminUser) -> JobRead:
    return AdminService(session).cancel(job_id)
