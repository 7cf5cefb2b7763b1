from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, OwnedMixin


class ModelSource:
    DEMO = "demo"  # converted on first start from the GGUF in a PyPI package
    LOCAL = "local"  # a folder on the server
    HUB = "hub"  # a hub id, loaded through from_pretrained (needs internet)
    EXPORT = "export"  # written by an export job


class BaseModel(OwnedMixin, Base):
    """The catalog: every model a job can start from."""

    __tablename__ = "base_models"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # slug: stable in URLs and scripts
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(Text)  # local folder or hub id
    gguf_file: Mapped[str | None] = mapped_column(String(300), nullable=True)
    architecture: Mapped[str | None] = mapped_column(String(100), nullable=True)
    num_parameters: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Off unless an admin allowed this model to run its own code.
    trust_remote_code: Mapped[bool] = mapped_column(Boolean, default=False)
    # The export job that wrote it. No foreign key: jobs already point at base_models, and a cycle of
    # foreign keys would make table creation order depend on ALTER, which SQLite cannot do.
    created_by_job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
