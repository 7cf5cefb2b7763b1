"""Request and response shapes of synthetic data generation (API, page and CLI share them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from app.jobs.schemas import JobRead


class TemplateFields(BaseModel):
    """The course's four parts of a prompt, the user message, and the defaults of its {variables}."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="untitled", min_length=1, max_length=200)
    role: str = Field(default="", max_length=20000, description="Who the model is.")
    requirements: str = Field(default="", max_length=20000, description="What it must do.")
    limits: str = Field(default="", max_length=20000, description="What it must not do.")
    output_format: str = Field(default="", max_length=20000, description="How the answer must look.")
    prompt: str = Field(min_length=1, max_length=20000, description="The user message; {topic}, {n}, "
                        "{turns}, {seed} are filled in per request.")  # fmt: skip
    variables: dict[str, str] = Field(default_factory=dict, description="Defaults of your own {variables}.")
    multi_turn: bool = False


class TemplateRead(TemplateFields):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    updated_at: datetime


class SecretRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    hint: str
    created_at: datetime


class SynthesizeRequest(BaseModel):
    """POST /api/v1/datasets/synthesize. The key is write-only: stored encrypted, never echoed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200, description="Name of the new dataset.")
    # endpoint: an external OpenAI-compatible URL (+ key or a saved key), or a studio deployment
    base_url: str | None = Field(default=None, max_length=500, description="e.g. https://host/v1")
    api_key: SecretStr | None = Field(default=None, description="Stored encrypted; never returned.")
    secret_id: int | None = Field(default=None, description="A key saved by an earlier run.")
    deployment_id: int | None = Field(default=None, description="One of the studio's own deployments.")
    model: str | None = Field(
        default=None, min_length=1, max_length=200, description="Required unless deployment_id is given."
    )
    # prompt
    template_id: int | None = None
    template: TemplateFields | None = None
    # seeds: topics, or rows of a dataset version to vary or continue
    topics: list[str] = Field(default_factory=list, max_length=10000)
    seed_dataset_id: int | None = None
    seed_version: int | None = Field(default=None, ge=1)
    seed_mode: Literal["vary", "continue"] = "vary"
    seed_row_ids: list[str] = Field(default_factory=list)
    seed_limit: int | None = Field(default=None, ge=1)
    # generation
    rows: int = Field(default=20, ge=1, le=100000, description="Target number of conversations.")
    turns: int = Field(default=1, ge=1, le=20, description="1: single-turn; more: multi-turn.")
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=16, le=32768)
    rate_limit_per_minute: float | None = Field(default=60.0, gt=0, le=100000)
    price_per_1k_tokens: float | None = Field(default=None, ge=0)
    json_mode: Literal["auto", "on", "off"] = "auto"
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_base: float = Field(default=1.0, ge=0.0, le=60.0, description="Seconds; doubled per retry.")
    # landing: the upload's quality gate
    dataset_id: int | None = Field(default=None, description="Add a version to this dataset instead.")
    dedup: Literal["report", "drop_exact", "drop_all"] = "drop_exact"
    near_dup_threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    max_chars: int | None = Field(default=None, ge=1)
    val_set_size: int | None = Field(default=None, ge=0)
    val_set_rate: float | None = Field(default=None, ge=0.0, lt=1.0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or "@" in value.split("/")[2]:
            raise ValueError("must be an http(s) URL without credentials in it, e.g. https://host/v1")
        if "?" in value or "#" in value:
            # The URL is recorded in the job and the version's lineage: a key in a query would leak there.
            raise ValueError("must not carry a query string; put the key in the API key field")
        return value

    @field_validator("topics")
    @classmethod
    def _clean_topics(cls, value: list[str]) -> list[str]:
        seen: dict[str, None] = {}
        for topic in value:
            if topic.strip():
                seen.setdefault(topic.strip()[:500], None)
        return list(seen)


class PreviewRequest(SynthesizeRequest):
    call: bool = Field(default=True, description="Also send the rendered prompt once to the endpoint.")


class PreviewRead(BaseModel):
    messages: list[dict[str, str]]
    answer: str | None = None
    conversations: list[list[dict[str, str]]] = Field(default_factory=list)
    parse_error: str | None = None
    call_error: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    json_mode: bool | None = None


class ResumeSynthesis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: int | None = Field(default=None, ge=1, le=100000, description="A new target (default: the same).")


class SynthesisRead(BaseModel):
    job: JobRead
    progress: dict[str, Any]
    unparsed_examples: list[dict[str, Any]]
    dataset_id: int | None = None
    version: int | None = None
