"""Deployments (a model loaded by a serving process on a worker), their API keys, and playground
conversations. The database owns a deployment's state; the worker's serving manager writes it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, OwnedMixin, UTCDateTime


class DeploymentStatus(StrEnum):
    LOADING = "loading"  # waiting for a worker, or its serving process is loading the weights
    READY = "ready"
    FAILED = "failed"  # could not load (error says why) or its process died
    STOPPED = "stopped"  # undeployed: the slot is free and no process is left


class Deployment(OwnedMixin, Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # What clients send as `model` on /v1; unique among all deployments.
    served_model_name: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=DeploymentStatus.LOADING, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Where the weights come from (resolved at creation so the worker needs no catalog logic).
    model_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    checkpoint: Mapped[str | None] = mapped_column(String(200), nullable=True)
    base_path: Mapped[str] = mapped_column(Text)
    gguf_file: Mapped[str | None] = mapped_column(String(300), nullable=True)
    trust_remote_code: Mapped[bool] = mapped_column(Boolean, default=False)
    adapter_path: Mapped[str | None] = mapped_column(Text, nullable=True)  # a PEFT folder, or None
    # Placement: the queue whose workers may serve it, and the worker/device that does (the queue's
    # placement keeps training off a device that serves).
    queue: Mapped[str] = mapped_column(String(50), default="gpu")
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    device: Mapped[str | None] = mapped_column(String(50), nullable=True)
    engine: Mapped[str | None] = mapped_column(String(20), nullable=True)  # transformers | vllm
    endpoint_url: Mapped[str | None] = mapped_column(String(300), nullable=True)
    internal_token: Mapped[str | None] = mapped_column(String(100), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Shown to users / applied to every chat.
    system_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    safety_notice: Mapped[str | None] = mapped_column(Text, nullable=True)
    faq_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"), nullable=True)
    faq_threshold: Mapped[float] = mapped_column(Float, default=0.6)
    # What the serving process reports.
    load_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    faq_hits: Mapped[int] = mapped_column(Integer, default=0)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeploymentKey(OwnedMixin, Base):
    """An API key for one deployment. Only its sha256 is stored; the key is shown once."""

    __tablename__ = "deployment_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(20))  # the first characters, to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Conversation(OwnedMixin, Base):
    """A playground or WebSocket chat kept server-side: reopened later, saved as dataset rows."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"), nullable=True)
    system_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    # [{"role", "content", ...}] in order; assistant turns may carry "source": "faq" | "model".
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
