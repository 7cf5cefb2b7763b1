"""The queue's rules, in the database: start order, placement, claiming, re-queueing lost jobs.

Order: higher priority first; within a priority, owners take turns (an owner with fewer running jobs goes
first, then round robin over each owner's waiting jobs), then FIFO by id. The same key orders the admin's
queue view, the `queue_position` of a job and what a worker claims, so what people see is what runs.

Claiming is one conditional UPDATE (`... WHERE id = :id AND status = 'queued'`): of two workers racing for
one job exactly one gets rowcount 1, on SQLite and PostgreSQL alike. A Celery message only wakes a worker.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from app.models import Checkpoint, Job, JobEvent, JobKind, JobMetric, JobStatus, WorkerNode, utcnow
from app.settings import get_settings

log = logging.getLogger("ftstudio.queue")

# How many queued jobs one claim or one view looks at; the queue of a studio is far shorter.
WINDOW = 1000


# --- what a job needs and what a worker has --------------------------------------------------------
def requested_resources(
    kind: str, config: dict[str, Any], predicted: dict[str, int] | None
) -> dict[str, Any]:
    """All of a job's processes run on one node: N processes need N GPUs (or N cores) there."""
    hp = (config or {}).get("hyperparameters") or {}
    processes = int(hp.get("num_processes") or 1) if kind == JobKind.TRAIN else 1
    predicted = predicted or {}
    return {
        "processes": processes,
        "gpu_memory_bytes": predicted.get("gpu"),
        "cpu_memory_bytes": predicted.get("cpu"),
    }


def gpus_of(devices: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in devices or [] if d.get("kind") == "gpu"]


def fits(resources: dict[str, Any], devices: Sequence[dict[str, Any]]) -> bool:
    """A GPU worker needs `processes` GPUs with the planned memory each; a CPU worker needs the cores and
    the RAM. A worker that reported nothing (an older worker) takes any job, as before."""
    if not devices:
        return True
    processes = int(resources.get("processes") or 1)
    gpus = gpus_of(devices)
    if gpus:
        need = resources.get("gpu_memory_bytes") or 0
        return sum(1 for g in gpus if (g.get("memory_total_bytes") or 0) >= need) >= processes
    cpu = next((d for d in devices if d.get("kind") == "cpu"), {})
    if processes > int(cpu.get("cores") or processes):
        return False
    need = resources.get("cpu_memory_bytes") or 0
    return need <= int(cpu.get("memory_total_bytes") or need)


# --- order -----------------------------------------------------------------------------------------
def running_by_owner(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Job.owner_id, func.count()).where(Job.status == JobStatus.RUNNING).group_by(Job.owner_id)
    )
    return {owner: count for owner, count in rows}


def start_order(queued: Sequence[Any], running: dict[int, int]) -> list[Any]:
    """The order in which these queued jobs start (see the module's docstring)."""
    # An owner's turn counts its running jobs plus its jobs ahead in this order (in any priority), which is
    # what they will be once started: the view predicts exactly what successive claims do.
    turn: dict[int, int] = defaultdict(int)
    keyed = []
    for job in sorted(queued, key=lambda j: (-(j.priority or 0), j.id)):
        keyed.append(((-(job.priority or 0), running.get(job.owner_id, 0) + turn[job.owner_id], job.id), job))
        turn[job.owner_id] += 1
    return [job for _key, job in sorted(keyed, key=lambda pair: pair[0])]


def queued_keys(session: Session, queues: Sequence[str] | None = None) -> list[Any]:
    """The queued jobs' ordering columns only (id, priority, owner, resources): the position of every
    queued job is computed on each job list, so it must not load and parse whole rows."""
    query = (
        select(Job.id, Job.priority, Job.owner_id, Job.requested_resources, Job.queue)
        .where(Job.status == JobStatus.QUEUED)
        .order_by(Job.priority.desc(), Job.id)
        .limit(WINDOW)
    )
    if queues is not None:
        query = query.where(Job.queue.in_(list(queues)))
    return list(session.execute(query))


def queue_in_order(session: Session, *, with_checkpoints: bool = False) -> list[Job]:
    """The queued jobs themselves, in start order (the admin's queue)."""
    ordered = [key.id for key in start_order(queued_keys(session), running_by_owner(session))]
    if not ordered:
        return []
    query = select(Job).where(Job.id.in_(ordered))
    if with_checkpoints:
        query = query.options(selectinload(Job.checkpoints))
    jobs = {job.id: job for job in session.scalars(query)}
    return [jobs[job_id] for job_id in ordered if job_id in jobs]


@dataclass
class QueueSlot:
    position: int
    estimated_start_at: datetime | None


def queue_slots(session: Session, running_etas: Sequence[float | None] | None = None) -> dict[int, QueueSlot]:
    """Position (1 = next) of every queued job, and an estimated start: the p-th job starts when the p-th
    running job ends (running jobs' ETAs, shortest first); unknown beyond that."""
    ordered = start_order(queued_keys(session), running_by_owner(session))
    if not ordered:
        return {}
    if running_etas is None:
        from app.jobs.progress import estimate_eta_seconds

        running = session.scalars(select(Job).where(Job.status == JobStatus.RUNNING)).all()
        running_etas = [estimate_eta_seconds(job) for job in running]
    etas = sorted(eta for eta in running_etas if eta is not None)
    now = utcnow()
    slots = {}
    for index, job in enumerate(ordered):
        start = now + timedelta(seconds=etas[index]) if index < len(etas) else None
        slots[job.id] = QueueSlot(position=index + 1, estimated_start_at=start)
    return slots


# --- claiming --------------------------------------------------------------------------------------
def claim_next(session: Session, worker_id: str) -> int | None:
    """The best queued job this worker can run, now marked running on it; None when there is none (or the
    worker drains). Commits."""
    worker = session.get(WorkerNode, worker_id)
    if worker is None or worker.draining:
        return None
    settings = get_settings()
    running = running_by_owner(session)
    limit = settings.max_running_per_owner
    for job in start_order(queued_keys(session, worker.queues or []), running):
        if limit and running.get(job.owner_id, 0) >= limit:
            continue
        if not fits(job.requested_resources or {}, worker.devices or []):
            continue
        now = utcnow()
        won = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.status == JobStatus.QUEUED)
            .values(
                status=JobStatus.RUNNING,
                worker_id=worker_id,
                started_at=now,
                heartbeat_at=now,
                finished_at=None,
                attempts=Job.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if won == 1:
            worker.current_job_id = job.id
            session.commit()
            return job.id
        session.rollback()  # another worker took it first: try the next one
    session.commit()
    return None


def eligible_queued_exists(session: Session, worker: WorkerNode) -> bool:
    if worker.draining:
        return False
    return any(
        fits(j.requested_resources or {}, worker.devices or [])
        for j in queued_keys(session, worker.queues or [])
    )


# --- lost workers and re-queueing ------------------------------------------------------------------
def _latest_checkpoint(job: Job) -> Checkpoint | None:
    if not job.run_dir:
        return None
    for checkpoint in sorted(job.checkpoints, key=lambda c: c.step, reverse=True):
        if not checkpoint.deleted and (Path(job.run_dir) / checkpoint.path).is_dir():
            return checkpoint
    return None


def requeue(session: Session, job: Job, reason: str, *, force: bool = False) -> bool:
    """Queue an interrupted job again, resuming from its last checkpoint; False when out of attempts.

    Metric and checkpoint rows after that checkpoint are deleted: the resumed run logs those steps again,
    so every step keeps exactly one row."""
    settings = get_settings()
    max_attempts = job.max_attempts or settings.job_max_attempts
    if force:  # an admin's re-queue: one more run, whatever the automatic limit says
        max_attempts = max(max_attempts, (job.attempts or 0) + 1)
        job.max_attempts, job.cancel_requested = max_attempts, False
    elif not settings.auto_requeue or (job.attempts or 0) >= max_attempts or job.cancel_requested:
        return False
    checkpoint = _latest_checkpoint(job) if job.kind == JobKind.TRAIN else None
    step = checkpoint.step if checkpoint else 0
    config = dict(job.config or {})
    if checkpoint is not None:
        config["resume_from_checkpoint"] = str(Path(job.run_dir or "") / checkpoint.path)
    elif job.kind == JobKind.TRAIN and not job.parent_job_id:
        config.pop("resume_from_checkpoint", None)
    session.execute(delete(JobMetric).where(JobMetric.job_id == job.id, JobMetric.step > step))
    for stale in [c for c in job.checkpoints if c.step > step]:
        session.delete(stale)
    result = {k: v for k, v in (job.result or {}).items() if k not in ("train_started_at", "end")}
    result["first_step"] = step
    job.config, job.result, job.step = config, result, step
    job.status, job.worker_id, job.finished_at, job.error = JobStatus.QUEUED, None, None, None
    session.add(
        JobEvent(
            job_id=job.id,
            kind="notice",
            step=step,
            message=f"{reason} Queued again (run {job.attempts + 1} of {max_attempts}), "
            + (f"resuming from the checkpoint at step {step}." if checkpoint else "from the start."),
            data={"requeued": True, "attempt": job.attempts + 1, "resume_step": step},
            created_at=utcnow(),
        )
    )
    return True


def interrupt_and_requeue(session: Session, jobs: Iterable[Job], reason: str) -> list[Job]:
    """Marks these running jobs interrupted and queues again those with attempts left. Returns the
    re-queued ones (the caller wakes a worker for each after committing)."""
    requeued = []
    now = utcnow()
    for job in jobs:
        job.status, job.finished_at = JobStatus.INTERRUPTED, now
        job.error = f"{reason} Resume it from its last checkpoint."
        if requeue(session, job, reason):
            requeued.append(job)
    return requeued


@dataclass
class ReapedJobs:
    """What a sweep found: every lost job (now interrupted: the caller sends their webhooks after commit)
    and those of them queued again (the caller wakes a worker for each after commit)."""

    lost_ids: list[int] = field(default_factory=list)
    requeued: list[Job] = field(default_factory=list)


def reap_lost_jobs(
    session: Session, now: datetime | None = None, worker_id: str | None = None
) -> ReapedJobs:
    """Running jobs whose worker is gone: a stale heartbeat, a worker marked offline, or (worker_id given)
    every running job of that worker. Workers that missed the heartbeat window are marked offline first."""
    settings = get_settings()
    now = now or utcnow()
    stale = now - timedelta(seconds=settings.heartbeat_timeout_seconds)
    session.execute(
        update(WorkerNode)
        .where(WorkerNode.status != "offline", WorkerNode.last_seen_at < stale)
        .values(status="offline", current_job_id=None)
        .execution_options(synchronize_session=False)
    )
    query = select(Job).where(Job.status == JobStatus.RUNNING).options(selectinload(Job.checkpoints))
    if worker_id is not None:
        query = query.where(Job.worker_id == worker_id)
    else:
        offline = select(WorkerNode.id).where(WorkerNode.status == "offline")
        query = query.where((Job.heartbeat_at < stale) | Job.worker_id.in_(offline))
    # SKIP LOCKED on PostgreSQL: two sweeping workers never both re-queue one job.
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Job)
    lost = list(session.scalars(query))
    if not lost:
        return ReapedJobs()
    log.warning("found %d job(s) whose worker is gone: %s", len(lost), [j.id for j in lost])
    requeued = interrupt_and_requeue(session, lost, "The worker running this job was lost.")
    return ReapedJobs(lost_ids=[j.id for j in lost], requeued=requeued)


def wake(jobs: Iterable[Job]) -> None:
    """Best effort: a lost wake-up is re-sent by the next sweep."""
    from app.queue import enqueue_job

    for job in jobs:
        try:
            enqueue_job(job.id, job.queue)
        except Exception as exc:  # the broker blinks: the sweep tries again
            log.warning("could not wake a worker for job %s: %s", job.id, exc)
