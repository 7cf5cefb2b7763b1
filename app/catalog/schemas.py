from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ModelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    source: str
    path: str
    gguf_file: str | None = None
    architecture: str | None = None
    num_parameters: int | None = None
    trust_remote_code: bool = False
    created_by_job_id: int | None = None
    description: str | None = None
    created_at: datetime


class ModelRegister(BaseModel):
    """Register a model folder on the server or a hub id (loaded with from_pretrained, needs internet)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=500, description="A local folder or a hub id (org/name).")
    name: str | None = Field(default=None, max_length=200)
    id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{0,119}$")
    gguf_file: str | None = Field(default=None, max_length=300)
