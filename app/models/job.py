from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, OwnedMixin, UTCDateTime


class JobKind(StrEnum):
    TRAIN = "train"
    EVAL = "eval"
    EXPORT = "export"
    DATASET_ANALYSIS = "dataset_analysis"
    SYNTHESIS = "synthesis"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the worker vanished: its heartbeat went stale

    @property
    def is_final(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


FINAL_STATUSES = tuple(s.value for s in JobStatus if s.is_final)


class Job(OwnedMixin, Base):
    """One unit of work on the queue. The database row is the only source of truth for its state."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED, index=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    method: Mapped[str | None] = mapped_column(String(30), nullable=True)
    base_model_id: Mapped[str | None] = mapped_column(ForeignKey("base_models.id"), nullable=True)
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"), nullable=True)
    parent_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    queue: Mapped[str] = mapped_column(String(50), default="gpu")
    worker_id: Mapped[str | None] = mapped_column(ForeignKey("workers.id"), nullable=True)
    run_dir: Mapped[str | None] = mapped_column(String(500), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    predicted_peak_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The queue's order: higher priority first, then by id (FIFO). Admins raise, lower or move to the top.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    # Runs started so far (1 on the first run); a lost worker's job is queued again while below max_attempts.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the setting
    # What the job needs on one node: {"gpus": n, "gpu_memory_bytes": per GPU, "processes": n}.
    requested_resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    checkpoints: Mapped[list[Checkpoint]] = relationship(
        back_populates="job", order_by="Checkpoint.step", cascade="all, delete-orphan"
    )


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(500))  # relative to the job's run folder
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # save_total_limit rotates old checkpoints away; the row stays so the history is complete.
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    job: Mapped[Job] = relationship(back_populates="checkpoints")
