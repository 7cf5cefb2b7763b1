"""Request and response shapes of the deployments API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DeploymentCreate(BaseModel):
    """One of ``model_id`` (a catalog model, an export included) or ``job_id`` (a training job's final
    model, or ``checkpoint`` such as "checkpoint-50")."""

    model_config = ConfigDict(extra="forbid")

    model_id: str | None = None
    job_id: int | None = None
    checkpoint: str | None = Field(None, max_length=200)
    name: str | None = Field(None, max_length=200)
    system_prompt: str | None = Field(None, max_length=20_000)
    safety_notice: str | None = Field(None, max_length=5_000)
    faq_dataset_id: int | None = None
    faq_threshold: float = Field(0.6, ge=0, le=1)
    queue: str | None = Field(None, max_length=50)

    @model_validator(mode="after")
    def _one_source(self) -> DeploymentCreate:
        if (self.model_id is None) == (self.job_id is None):
            raise ValueError("give exactly one of model_id or job_id")
        if self.checkpoint is not None and self.job_id is None:
            raise ValueError("checkpoint needs job_id")
        return self


class DeploymentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system_prompt: str | None = Field(None, max_length=20_000)
    safety_notice: str | None = Field(None, max_length=5_000)
    faq_dataset_id: int | None = None
    faq_threshold: float | None = Field(None, ge=0, le=1)


class DeploymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    served_model_name: str
    status: str
    error: str | None
    model_id: str | None
    job_id: int | None
    checkpoint: str | None
    adapter_path: str | None
    base_path: str
    queue: str
    worker_id: str | None
    device: str | None
    engine: str | None
    pid: int | None
    system_prompt: str | None
    safety_notice: str | None
    faq_version_id: int | None
    faq_threshold: float
    load_seconds: float | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    errors: int
    faq_hits: int
    created_at: datetime
    ready_at: datetime | None
    stopped_at: datetime | None


class KeyCreated(BaseModel):
    id: int
    key: str
    prefix: str
