from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class UploadOptions(BaseModel):
    """Form / query options of an upload. Names follow LLaMA-Factory / axolotl where they exist."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    format: str | None = Field(default=None, description="Override the detected format.")
    on_invalid: str = Field(default="drop", pattern="^(drop|reject)$")
    dedup: str = Field(default="report", pattern="^(report|drop_exact|drop_all)$")
    near_dup_threshold: float = Field(default=0.8, gt=0, le=1)
    val_set_size: int | None = Field(default=None, ge=0)
    val_set_rate: float | None = Field(default=None, ge=0, lt=1)
    seed: int = 42
    mapping: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one_split_rule(self) -> UploadOptions:
        if self.val_set_size and self.val_set_rate:
            raise ValueError("give val_set_size or val_set_rate, not both")
        return self


class DatasetVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    version: int
    content_hash: str
    parent_version_id: int | None
    original_filename: str | None
    file_type: str | None
    format: str | None
    encoding: str | None
    num_rows: int
    num_invalid: int
    num_train: int
    num_val: int
    split: dict[str, Any]
    note: str | None
    created_at: datetime


class DatasetRead(BaseModel):
    id: int
    name: str
    status: str
    archived: bool
    version: int | None
    version_id: int | None
    format: str | None
    encoding: str | None
    num_rows: int
    num_invalid: int
    num_train: int
    num_val: int
    duplicates: dict[str, Any]
    problems: list[dict[str, Any]]
    stats: dict[str, Any]
    versions: list[DatasetVersionRead]
    created_at: datetime
