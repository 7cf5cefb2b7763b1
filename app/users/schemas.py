from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str
    disabled: bool
    max_running_jobs: int | None
    max_queued_jobs: int | None
    max_storage_bytes: int | None
    created_at: datetime


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    password: str | None = Field(default=None, max_length=1024)
    admin: bool = False


class UserUpdate(BaseModel):
    """Only the fields sent change. A quota sent as null means no limit."""

    role: str | None = Field(default=None, pattern="^(admin|member)$")
    disabled: bool | None = None
    password: str | None = Field(default=None, max_length=1024)
    max_running_jobs: int | None = Field(default=None, ge=0, le=1_000_000)
    max_queued_jobs: int | None = Field(default=None, ge=0, le=1_000_000)
    max_storage_bytes: int | None = Field(default=None, ge=0, le=2**62)


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The secret: shown this once, store it now.")


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor_id: int | None
    actor_name: str | None
    action: str
    object_type: str | None
    object_id: str | None
    ip: str | None
    detail: str | None


class Me(BaseModel):
    id: int
    name: str
    role: str
