"""Tables of synthetic data generation: endpoint keys kept as encrypted secrets, and reusable prompt
templates in the course's four parts (role, requirements, limits, output format)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, OwnedMixin, UTCDateTime, utcnow


class Secret(OwnedMixin, Base):
    """An API key, encrypted with a key derived from the server's secret file (app/synthesis/secrets.py).

    Jobs reference a secret by id; the plain key never enters a job's config, events or logs."""

    __tablename__ = "secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))  # what it is for, e.g. the endpoint URL (never the key)
    ciphertext: Mapped[str] = mapped_column(Text)
    # The last 4 characters, so a user can tell saved keys apart without seeing them.
    hint: Mapped[str] = mapped_column(String(8), default="")


class SynthesisTemplate(OwnedMixin, Base):
    __tablename__ = "synthesis_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(Text, default="")
    requirements: Mapped[str] = mapped_column(Text, default="")
    limits: Mapped[str] = mapped_column(Text, default="")
    output_format: Mapped[str] = mapped_column(Text, default="")
    prompt: Mapped[str] = mapped_column(Text, default="")  # the user message, with {topic} etc.
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # defaults of {name} variables
    multi_turn: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
