"""Deployment, key and conversation queries; every user-facing query is scoped by owner here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Conversation, Deployment, DeploymentKey


class DeploymentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, obj: Deployment | DeploymentKey | Conversation) -> None:
        self.session.add(obj)
        self.session.flush()

    def get(self, deployment_id: int, owner_id: int | None) -> Deployment | None:
        query = select(Deployment).where(Deployment.id == deployment_id)
        if owner_id is not None:
            query = query.where(Deployment.owner_id == owner_id)
        return self.session.scalars(query).first()

    def list(self, owner_id: int | None, *, active_only: bool = False) -> list[Deployment]:
        query = select(Deployment).order_by(Deployment.id.desc())
        if owner_id is not None:
            query = query.where(Deployment.owner_id == owner_id)
        if active_only:
            query = query.where(Deployment.status.in_(("loading", "ready")))
        return list(self.session.scalars(query))

    def by_served_name(self, name: str) -> Deployment | None:
        return self.session.scalars(select(Deployment).where(Deployment.served_model_name == name)).first()

    def key_by_hash(self, key_hash: str) -> DeploymentKey | None:
        return self.session.scalars(
            select(DeploymentKey).where(DeploymentKey.key_hash == key_hash, DeploymentKey.revoked.is_(False))
        ).first()

    def keys(self, deployment_id: int) -> list[DeploymentKey]:
        return list(
            self.session.scalars(select(DeploymentKey).where(DeploymentKey.deployment_id == deployment_id))
        )

    # --- conversations -----------------------------------------------------------------------------
    def conversation(self, conversation_id: int, owner_id: int | None) -> Conversation | None:
        query = select(Conversation).where(Conversation.id == conversation_id)
        if owner_id is not None:
            query = query.where(Conversation.owner_id == owner_id)
        return self.session.scalars(query).first()

    def conversations(self, owner_id: int | None, limit: int = 100) -> list[Conversation]:
        query = select(Conversation).order_by(Conversation.id.desc()).limit(limit)
        if owner_id is not None:
            query = query.where(Conversation.owner_id == owner_id)
        return list(self.session.scalars(query))
