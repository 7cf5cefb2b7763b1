from __future__ import annotations

from fastapi import APIRouter, status

from app.catalog.schemas import ModelRead, ModelRegister
from app.catalog.service import CatalogService
from app.deps import AdminUser, CurrentUser, SessionDep

router = APIRouter(prefix="/api/v1/models", tags=["models"])


@router.get("", response_model=list[ModelRead])
def list_models(session: SessionDep) -> list[ModelRead]:
    return [ModelRead.model_validate(m) for m in CatalogService(session).list()]


@router.get("/{model_id}", response_model=ModelRead)
def get_model(model_id: str, session: SessionDep) -> ModelRead:
    return ModelRead.model_validate(CatalogService(session).get(model_id))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ModelRead)
def register_model(request: ModelRegister, session: SessionDep, user: CurrentUser) -> ModelRead:
    return ModelRead.model_validate(CatalogService(session).register_for(user, request))


@router.post("/{model_id}/trust-remote-code", response_model=ModelRead)
def allow_remote_code(model_id: str, session: SessionDep, admin: AdminUser) -> ModelRead:
    """Admin only: jobs may run the code shipped in this model's folder or repository."""
    return ModelRead.model_validate(CatalogService(session).set_trust_remote_code(model_id, True))


@router.delete("/{model_id}/trust-remote-code", response_model=ModelRead)
def forbid_remote_code(model_id: str, session: SessionDep, admin: AdminUser) -> ModelRead:
    """Admin only: take the model off the allow-list (new jobs load it without its own code)."""
    return ModelRead.model_validate(CatalogService(session).set_trust_remote_code(model_id, False))
