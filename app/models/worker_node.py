from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false as sa_false

from app.models.base import Base, UTCDateTime


class WorkerNode(Base):
    """A worker registers itself when it starts and refreshes last_seen_at while it lives."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # hostname:pid
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[list[str]] = mapped_column(JSON, default=list)
    accelerators: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="online")  # online | offline
    # Draining: finishes its current job and claims no more (the admin's status shows "draining").
    draining: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # [{"kind": "gpu", "index", "name", "memory_total_bytes", "memory_free_bytes", "utilization_percent"}]
    # or one {"kind": "cpu", "cores", "memory_total_bytes", "memory_available_bytes"}; refreshed each beat.
    devices: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    current_job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
