from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, OwnedMixin, TimestampMixin


class DatasetStatus(StrEnum):
    ANALYSING = "analysing"
    READY = "ready"
    FAILED = "failed"


class Dataset(OwnedMixin, Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=DatasetStatus.READY)
    # A dataset a job used can't be deleted, only archived (jobs keep pointing at its versions).
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    versions: Mapped[list[DatasetVersion]] = relationship(
        back_populates="dataset", order_by="DatasetVersion.version", cascade="all, delete-orphan"
    )

    @property
    def latest_version(self) -> DatasetVersion | None:
        return self.versions[-1] if self.versions else None


class DatasetVersion(TimestampMixin, Base):
    """An immutable, normalised snapshot: rows in train.jsonl / val.jsonl under ``path``."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    parent_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"), nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(500))  # relative to the data directory
    original_filename: Mapped[str | None] = mapped_column(String(300), nullable=True)
    file_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    format: Mapped[str | None] = mapped_column(String(40), nullable=True)
    encoding: Mapped[str | None] = mapped_column(String(40), nullable=True)
    num_rows: Mapped[int] = mapped_column(Integer, default=0)
    num_invalid: Mapped[int] = mapped_column(Integer, default=0)
    num_train: Mapped[int] = mapped_column(Integer, default=0)
    num_val: Mapped[int] = mapped_column(Integer, default=0)
    split: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # problems, duplicates, stats
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)

    dataset: Mapped[Dataset] = relationship(back_populates="versions")
