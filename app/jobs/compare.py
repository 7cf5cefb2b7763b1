"""Compare runs: several jobs' loss curves, configs and scores side by side, with the differences marked.

Scores come from the job itself (quick evaluations) and from the evaluation jobs run on it
(app/evaluations: an eval job's ``parent_job_id`` is the train job it scored); the newest value wins.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import InvalidInput, NotFound
from app.jobs.progress import build_job_read
from app.jobs.repository import JobRepository
from app.jobs.schemas import JobRead
from app.models import Job, JobKind, JobMetric, JobStatus, Score

MAX_COMPARE = 10


class CompareRun(BaseModel):
    job: JobRead
    train_loss: list[tuple[int, float]]
    eval_loss: list[tuple[int, float]]


class CompareRow(BaseModel):
    """One line of a side-by-side table: ``values`` in the order of ``CompareRead.runs``."""

    key: str
    values: list[Any]
    differs: bool


class CompareRead(BaseModel):
    runs: list[CompareRun]
    config: list[CompareRow]
    scores: list[CompareRow]


def parse_ids(raw: list[str] | str | None) -> list[int]:
    """``ids=1,2,3`` (a link) or ``ids=1&ids=2`` (the job list's checkboxes), both accepted."""
    parts = [raw] if isinstance(raw, str) else list(raw or [])
    ids: list[int] = []
    for part in parts:
        for piece in part.split(","):
            piece = piece.strip()
            if not piece:
                continue
            if not piece.isdigit():
                raise InvalidInput(f"ids: '{piece}' is not a job id.", field="ids")
            if int(piece) not in ids:
                ids.append(int(piece))
    if len(ids) < 2:
        raise InvalidInput("ids: pick at least two jobs to compare (ids=1,2).", field="ids")
    if len(ids) > MAX_COMPARE:
        raise InvalidInput(f"ids: at most {MAX_COMPARE} jobs can be compared at once.", field="ids")
    return ids


def _flatten_config(job: Job) -> dict[str, Any]:
    config = job.config or {}
    dataset = config.get("dataset") or {}
    flat: dict[str, Any] = {
        "kind": job.kind,
        "method": job.method or config.get("method"),
        "base_model": job.base_model_id or (config.get("base_model") or {}).get("id"),
        "dataset": dataset.get("id"),
        "dataset_version": dataset.get("version"),
        "resumed_from": config.get("resume_from_checkpoint") and job.parent_job_id,
    }
    for key, value in sorted((config.get("hyperparameters") or {}).items()):
        flat[f"hyperparameters.{key}"] = value
    return flat


def _rows(per_job: list[dict[str, Any]]) -> list[CompareRow]:
    keys: list[str] = []
    for values in per_job:
        keys.extend(k for k in values if k not in keys)
    rows = []
    for key in keys:
        values = [values.get(key) for values in per_job]
        rows.append(CompareRow(key=key, values=values, differs=len({repr(v) for v in values}) > 1))
    return rows


def _scores(session: Session, jobs: list[Job], owner_id: int | None) -> list[dict[str, Any]]:
    """Per job: {"suite/metric[/domain]": value}, from its own rows then its finished evaluations."""
    ids = [job.id for job in jobs]
    query = (
        select(Job.id, Job.parent_job_id)
        .where(Job.kind == JobKind.EVAL, Job.parent_job_id.in_(ids), Job.status == JobStatus.SUCCEEDED)
        .order_by(Job.id)
    )
    if owner_id is not None:
        query = query.where(Job.owner_id == owner_id)
    evals = session.execute(query).all()
    owner_of = {job_id: job_id for job_id in ids} | {eval_id: parent for eval_id, parent in evals}
    out: dict[int, dict[str, Any]] = {job_id: {} for job_id in ids}
    rows = select(Score).where(Score.job_id.in_(list(owner_of))).order_by(Score.job_id, Score.id)
    for score in session.scalars(rows):
        if score.subject:  # per-subject MMCU rows: hundreds; the domain and overall rows summarise them
            continue
        key = "/".join(part for part in (score.suite, score.metric, score.domain) if part)
        out[owner_of[score.job_id]][key] = score.value
    return [out[job_id] for job_id in ids]


def _curves(session: Session, job_id: int) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    query = select(JobMetric).where(JobMetric.job_id == job_id).order_by(JobMetric.id)
    train, evals = [], []
    for metric in session.scalars(query):
        if metric.kind == "train" and metric.loss is not None:
            train.append((metric.step, metric.loss))
        elif metric.eval_loss is not None:
            evals.append((metric.step, metric.eval_loss))
    return train, evals


def compare_jobs(session: Session, ids: list[int], owner_id: int | None) -> CompareRead:
    """A job the caller cannot see is a 404, like every other job route."""
    repo = JobRepository(session)
    jobs = []
    for job_id in ids:
        job = repo.get(job_id, owner_id)
        if job is None:
            raise NotFound(f"Job {job_id} does not exist.")
        jobs.append(job)
    runs = []
    for job in jobs:
        train, evals = _curves(session, job.id)
        runs.append(CompareRun(job=build_job_read(job), train_loss=train, eval_loss=evals))
    return CompareRead(
        runs=runs,
        config=_rows([_flatten_config(job) for job in jobs]),
        scores=_rows(_scores(session, jobs, owner_id)),
    )
