from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import BaseModel


class ModelRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def list(self) -> list[BaseModel]:
        # The catalog is shared by everyone on the install; ownership says who added an entry.
        return list(self.session.scalars(select(BaseModel).order_by(BaseModel.created_at)))

    def get(self, model_id: str) -> BaseModel | None:
        return self.session.get(BaseModel, model_id)

    def add(self, model: BaseModel) -> BaseModel:
        self.session.add(model)
        self.session.flush()
        return model
