"""The audit log: who did what to which object. Other packages call ``record``; admins read it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEntry, User


def record(
    session: Session,
    actor_id: int | None,
    action: str,
    object_type: str | None = None,
    object_id: object = None,
    detail: str | None = None,
    *,
    ip: str | None = None,
    actor_name: str | None = None,
) -> AuditEntry:
    """Adds one entry to the caller's session (the caller commits, so the entry lands with the change)."""
    if actor_name is None and actor_id is not None:
        user = session.get(User, actor_id)
        actor_name = user.name if user else None
    entry = AuditEntry(
        actor_id=actor_id,
        actor_name=actor_name,
        action=action[:80],
        object_type=object_type,
        object_id=None if object_id is None else str(object_id)[:200],
        ip=ip,
        detail=detail[:2000] if detail else None,
    )
    session.add(entry)
    return entry


def recent(
    session: Session,
    *,
    limit: int = 200,
    actor: str | None = None,
    action: str | None = None,
    before_id: int | None = None,
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEntry.actor_name == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))
