from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TrainJobCreate(BaseModel):
    """The public contract of POST /api/v1/jobs for training."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["train"] = "train"
    dataset_id: int = Field(
        description="The dataset to train on (its latest version unless dataset_version is given)."
    )
    dataset_version: int | None = Field(default=None, ge=1)
    base_model: str = Field(min_length=1, description="A model id from GET /api/v1/models.")
    method: str = Field(
        "lora",
        description='A training method, or "auto": full fine-tuning when the model has at most 1B parameters '
        "and a full fine-tune fits the workers' memory, else LoRA. The job records the concrete method and, "
        "in config.method_choice, why.",
    )
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(default=None, max_length=200)
    queue: str | None = Field(default=None, max_length=50)
    webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Optional http(s) URL POSTed a signed JSON body when this job succeeds, fails, is "
        "interrupted or is flagged for collapse (worker/notify.py).",
    )

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook_url must be an http:// or https:// URL with a host")
        return value.strip()


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint_step: int | None = Field(default=None, description="Default: the newest checkpoint.")
    max_steps: int | None = Field(default=None, ge=1, description="Optionally train further than planned.")


class Progress(BaseModel):
    step: int
    total_steps: int | None
    loss: float | None
    eta_seconds: float | None
    percent: float | None


class CheckpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    step: int
    path: str
    size_bytes: int
    deleted: bool
    created_at: datetime


class JobRead(BaseModel):
    id: int
    kind: str
    status: str
    name: str | None
    method: str | None
    base_model: str | None
    dataset_version_id: int | None
    parent_job_id: int | None
    config: dict[str, Any]
    progress: Progress
    checkpoints: list[CheckpointRead]
    error: str | None
    cancel_requested: bool
    peak_memory_bytes: int | None
    predicted_peak_bytes: int | None
    result: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    worker_id: str | None
    # The queue (app/jobs/scheduling.py): `worker` is the worker's id, `attempts` 1 on the first run.
    worker: str | None = None
    attempts: int = 0
    max_attempts: int | None = None
    priority: int = 0
    queue: str | None = None
    requested_resources: dict[str, Any] = Field(default_factory=dict)
    queue_position: int | None = Field(default=None, description="While queued: 1 = starts next.")
    estimated_start_at: datetime | None = Field(
        default=None, description="While queued: when the running jobs' ETAs free a worker for it."
    )


class MetricRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    step: int
    epoch: float | None
    loss: float | None
    learning_rate: float | None
    grad_norm: float | None
    eval_loss: float | None
    tokens_per_second: float | None


class JobEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    step: int | None
    message: str | None
    data: dict[str, Any]
    created_at: datetime
