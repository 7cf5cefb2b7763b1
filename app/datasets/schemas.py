from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_DROP_IDS = 100_000


class SplitSettings(BaseModel):
    """How a version is split; stored on the version so a derived version re-splits the same way."""

    val_set_size: int | None = Field(default=None, ge=0)
    val_set_rate: float | None = Field(default=None, ge=0, lt=1)
    seed: int = 42

    @model_validator(mode="after")
    def _one_split_rule(self) -> SplitSettings:
        if self.val_set_size and self.val_set_rate:
            raise ValueError("give val_set_size or val_set_rate, not both")
        return self


class UploadOptions(SplitSettings):
    """Form / query options of an upload. Names follow LLaMA-Factory / axolotl where they exist."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    format: str | None = Field(default=None, description="Override the detected format.")
    on_invalid: str = Field(default="drop", pattern="^(drop|reject)$")
    dedup: str = Field(default="report", pattern="^(report|drop_exact|drop_all)$")
    near_dup_threshold: float = Field(default=0.8, gt=0, le=1)
    max_chars: int | None = Field(default=None, ge=1, description="Rows longer than this are invalid.")
    mapping: dict[str, str] | None = None


class NewVersionRequest(BaseModel):
    """Review: drop rows and/or re-split; the result is a new immutable version."""

    model_config = ConfigDict(extra="forbid")

    base_version: int | None = Field(default=None, ge=1, description="Default: the latest version.")
    drop_row_ids: list[str] = Field(default_factory=list, max_length=MAX_DROP_IDS)
    note: str | None = Field(default=None, max_length=500)
    val_set_size: int | None = Field(default=None, ge=0)
    val_set_rate: float | None = Field(default=None, ge=0, lt=1)
    seed: int | None = None

    @model_validator(mode="after")
    def _one_split_rule(self) -> NewVersionRequest:
        if self.val_set_size and self.val_set_rate:
            raise ValueError("give val_set_size or val_set_rate, not both")
        return self


class FlagRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1)
    row_ids: list[str] = Field(min_length=1, max_length=MAX_DROP_IDS)
    flagged: bool = True


class AnalyseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, description="Default: the latest version.")
    model: str = Field(min_length=1, description="A base model id from the catalog (its tokenizer).")
    max_seq_length: int = Field(default=1024, ge=2, le=1_048_576)
    near_dup_threshold: float = Field(default=0.8, gt=0, le=1)
    bins: int = Field(default=20, ge=1, le=200)
    preview_row_ids: list[str] = Field(default_factory=list, max_length=50)


class RowRead(BaseModel):
    id: str
    split: str
    flagged: bool
    messages: list[dict[str, Any]]


class RowsPage(BaseModel):
    version: int
    split: str
    q: str | None
    page: int
    page_size: int
    total: int
    pages: int
    rows: list[RowRead]


class TokenPiece(BaseModel):
    text: str
    ids: list[int]
    carries_loss: bool
    window: int


class TokenPreview(BaseModel):
    row_id: str
    version: int
    model: str
    max_seq_length: int
    num_tokens: int
    num_loss_tokens: int
    pieces: list[TokenPiece]


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
    notes: list[str] = Field(default_factory=list)
    stats: dict[str, Any]
    flagged: list[str] = Field(default_factory=list)
    analysis: dict[str, Any] | None = None
    used_by_jobs: bool = False
    versions: list[DatasetVersionRead]
    created_at: datetime


class DatasetVersionDetail(DatasetVersionRead):
    report: dict[str, Any]
