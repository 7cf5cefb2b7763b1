"""Queries of saved templates and secrets, scoped by owner (None: an admin sees all)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Secret, SynthesisTemplate


class SynthesisRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def templates(self, owner_id: int | None) -> list[SynthesisTemplate]:
        query = select(SynthesisTemplate).order_by(SynthesisTemplate.name, SynthesisTemplate.id)
        if owner_id is not None:
            query = query.where(SynthesisTemplate.owner_id == owner_id)
        return list(self.session.scalars(query))

    def template(self, owner_id: int | None, template_id: int) -> SynthesisTemplate | None:
        found = self.session.get(SynthesisTemplate, template_id)
        return found if found is not None and owner_id in (None, found.owner_id) else None

    def secrets(self, owner_id: int | None) -> list[Secret]:
        query = select(Secret).order_by(Secret.id.desc())
        if owner_id is not None:
            query = query.where(Secret.owner_id == owner_id)
        return list(self.session.scalars(query))

    def secret(self, owner_id: int | None, secret_id: int) -> Secret | None:
        found = self.session.get(Secret, secret_id)
        return found if found is not None and owner_id in (None, found.owner_id) else None

    def add(self, obj: Secret | SynthesisTemplate) -> None:
        self.session.add(obj)
        self.session.flush()
