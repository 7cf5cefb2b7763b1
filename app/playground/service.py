"""Playground rules: open a model for chatting (reusing a live deployment of the same source), list and
reopen conversations, and save a conversation as rows of a dataset (a new version, or a new dataset)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from app.datasets.ingest import conversation_stats
from app.datasets.schemas import UploadOptions
from app.datasets.service import DatasetService
from app.datasets.storage import read_rows
from app.datasets.versions import commit_derived_version
from app.deps import Principal
from app.errors import InvalidInput, NotFound
from app.models import Conversation, DatasetVersion, Deployment
from app.serving.repository import DeploymentRepository
from app.serving.schemas import DeploymentCreate
from app.serving.service import DeploymentService


class OpenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deployment_id: int | None = None
    model_id: str | None = None
    job_id: int | None = None
    checkpoint: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> OpenRequest:
        # Checked here, as a 422 naming the problem; DeploymentCreate's own check would be a 500 later.
        if sum(x is not None for x in (self.deployment_id, self.model_id, self.job_id)) != 1:
            raise ValueError("give exactly one of deployment_id, model_id or job_id")
        if self.checkpoint is not None and self.job_id is None:
            raise ValueError("checkpoint needs job_id")
        return self


class SaveRequest(BaseModel):
    """Save the conversation (optionally with corrected messages) into a dataset."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: int | None = None  # a new version of this dataset; None: a new dataset
    name: str | None = Field(None, max_length=200)
    messages: list[dict[str, str]] | None = None


def open_deployment(session: Session, user: Principal, request: OpenRequest) -> Deployment:
    service = DeploymentService(session)
    if request.deployment_id is not None:
        return service.get(user, request.deployment_id)
    for dep in service.list(user, active_only=True):
        same = (
            dep.model_id == request.model_id and dep.job_id is None
            if request.job_id is None
            else dep.job_id == request.job_id and dep.checkpoint == request.checkpoint
        )
        if same and not dep.stop_requested:
            return dep
    create = DeploymentCreate(model_id=request.model_id, job_id=request.job_id, checkpoint=request.checkpoint)
    return service.create(user, create)


def conversation(session: Session, user: Principal, conversation_id: int) -> Conversation:
    conv = DeploymentRepository(session).conversation(conversation_id, user.scope_owner_id)
    if conv is None:
        raise NotFound(f"Conversation {conversation_id} does not exist.")
    return conv


def conversation_row(conv: Conversation, messages: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The normalised dataset row of a conversation (docs/CONTRACTS.md), checked as ingest would."""
    turns = [{"role": m["role"], "content": str(m["content"])} for m in (messages or conv.messages or [])]
    if conv.system_prompt and not any(m["role"] == "system" for m in turns):
        turns = [{"role": "system", "content": conv.system_prompt}, *turns]
    body = turns[1:] if turns and turns[0]["role"] == "system" else turns
    while body and body[-1]["role"] == "user":
        body.pop()  # an unanswered question is not a training example
    roles = [m["role"] for m in body]
    if not body or any(r != ("user" if i % 2 == 0 else "assistant") for i, r in enumerate(roles)):
        raise InvalidInput("The conversation needs user and assistant turns in turn, starting with a user.")
    if any(not m["content"].strip() for m in body):
        raise InvalidInput("A turn of the conversation is empty.")
    system = turns[:1] if turns and turns[0]["role"] == "system" else []
    return {"id": f"conversation-{conv.id}", "messages": [*system, *body]}


def save_as_dataset(
    session: Session, user: Principal, conversation_id: int, request: SaveRequest
) -> DatasetVersion:
    conv = conversation(session, user, conversation_id)
    row = conversation_row(conv, request.messages)
    datasets = DatasetService(session)
    if request.dataset_id is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"conversation-{conv.id}.jsonl"
            path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
            name = request.name or f"chat-{conv.id}"
            dataset = datasets.create_from_path(user.user_id, path, UploadOptions(name=name, val_set_size=0))
        return dataset.latest_version  # type: ignore[return-value]
    return _append_version(session, user, request.dataset_id, row)


def _append_version(
    session: Session, user: Principal, dataset_id: int, row: dict[str, Any]
) -> DatasetVersion:
    """A new immutable version: the latest version's rows plus this conversation (split settings kept)."""
    datasets = DatasetService(session)
    dataset = datasets.get(user.user_id, dataset_id)
    base = datasets.get_version(user.user_id, dataset_id, None)
    rows = read_rows(base)
    taken = {str(r["id"]) for r in rows}
    row_id, n = row["id"], 1
    while row["id"] in taken:
        n += 1
        row["id"] = f"{row_id}-{n}"
    rows.append(row)
    split = {k: (base.split or {}).get(k) for k in ("val_set_size", "val_set_rate", "seed")}
    split["seed"] = 42 if split["seed"] is None else split["seed"]
    report = {
        "stats": conversation_stats(rows),
        "derived": {"from_version": base.version, "added": [row["id"]]},
    }
    note = f"added conversation {row['id']} from the playground"
    return commit_derived_version(session, dataset, base, rows, split, report, note)
