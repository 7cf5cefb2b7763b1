"""Per-user limits an admin sets (users.max_*), checked where jobs are created and files stored."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import StudioError
from app.models import Dataset, DatasetVersion, Job, JobStatus, User
from app.settings import get_settings


class QuotaExceeded(StudioError):
    status_code = 429


def _count(session: Session, owner_id: int, status: str) -> int:
    query = select(func.count(Job.id)).where(Job.owner_id == owner_id, Job.status == status)
    return int(session.scalar(query) or 0)


def check_job_quota(session: Session, owner_id: int) -> None:
    """A new job waits in the queue: refused once the owner's queued jobs reach max_queued_jobs, or their
    queued + running jobs reach max_running_jobs + max_queued_jobs."""
    user = session.get(User, owner_id)
    if user is None:
        return
    queued = _count(session, owner_id, JobStatus.QUEUED)
    running = _count(session, owner_id, JobStatus.RUNNING)
    if user.max_queued_jobs is not None and queued >= user.max_queued_jobs:
        raise QuotaExceeded(
            f"Quota reached: {user.name} already has {queued} queued job(s) (limit {user.max_queued_jobs}). "
            "Wait for one to start or cancel one."
        )
    if user.max_running_jobs is not None:
        limit = user.max_running_jobs + (user.max_queued_jobs or 0)
        if user.max_running_jobs == 0 or queued + running >= limit:
            raise QuotaExceeded(
                f"Quota reached: {user.name} has {running} running and {queued} queued job(s); the limit is "
                f"{user.max_running_jobs} running job(s). Wait for one to finish or cancel one."
            )
    if user.max_storage_bytes is not None and storage_used(session, owner_id) >= user.max_storage_bytes:
        raise QuotaExceeded(_storage_message(user, storage_used(session, owner_id)))


def _folder_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def storage_used(session: Session, owner_id: int) -> int:
    """Bytes on disk of the owner's dataset versions and job run folders."""
    data_dir = get_settings().resolved_data_dir
    version_paths = session.scalars(
        select(DatasetVersion.path).join(Dataset).where(Dataset.owner_id == owner_id)
    )
    run_dirs = session.scalars(select(Job.run_dir).where(Job.owner_id == owner_id, Job.run_dir.is_not(None)))
    total = 0
    for relative in [*version_paths, *run_dirs]:
        if relative:
            total += _folder_bytes(data_dir / relative)
    return total


def _storage_message(user: User, used: int, incoming: int = 0) -> str:
    more = f" plus this {incoming:,} byte file" if incoming else ""
    return (
        f"Storage quota reached: {user.name} uses {used:,} bytes{more}, "
        f"limit {user.max_storage_bytes:,} bytes. "
        "Delete datasets or jobs, or ask an admin for more."
    )


def check_storage_quota(session: Session, owner_id: int, incoming_bytes: int = 0) -> None:
    user = session.get(User, owner_id)
    if user is None or user.max_storage_bytes is None:
        return
    used = storage_used(session, owner_id)
    if used + incoming_bytes > user.max_storage_bytes:
        raise QuotaExceeded(_storage_message(user, used, incoming_bytes))
