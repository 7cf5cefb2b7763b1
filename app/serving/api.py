"""Deployments REST API (/api/v1/deployments): deploy, read, undeploy, keys."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.deps import CurrentUser, SessionDep
from app.serving.schemas import DeploymentCreate, DeploymentRead, DeploymentUpdate, KeyCreated
from app.serving.service import DeploymentService

router = APIRouter(prefix="/api/v1/deployments", tags=["deployments"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DeploymentRead)
def create_deployment(request: DeploymentCreate, session: SessionDep, user: CurrentUser) -> DeploymentRead:
    """Deploy a catalog model or a job's final model / checkpoint; a worker loads it (status loading)."""
    return DeploymentRead.model_validate(DeploymentService(session).create(user, request))


@router.get("", response_model=list[DeploymentRead])
def list_deployments(session: SessionDep, user: CurrentUser, active: bool = False) -> list[DeploymentRead]:
    return [
        DeploymentRead.model_validate(d) for d in DeploymentService(session).list(user, active_only=active)
    ]


@router.get("/{deployment_id}", response_model=DeploymentRead)
def get_deployment(deployment_id: int, session: SessionDep, user: CurrentUser) -> DeploymentRead:
    return DeploymentRead.model_validate(DeploymentService(session).get(user, deployment_id))


@router.patch("/{deployment_id}", response_model=DeploymentRead)
def update_deployment(
    deployment_id: int, request: DeploymentUpdate, session: SessionDep, user: CurrentUser
) -> DeploymentRead:
    """System prompt, safety notice, FAQ set and threshold; they apply to the next request."""
    return DeploymentRead.model_validate(DeploymentService(session).update(user, deployment_id, request))


@router.delete("/{deployment_id}", response_model=DeploymentRead)
def undeploy(deployment_id: int, session: SessionDep, user: CurrentUser) -> DeploymentRead:
    """Stops it: the worker unloads it and frees the slot; status becomes stopped."""
    return DeploymentRead.model_validate(DeploymentService(session).undeploy(user, deployment_id))


@router.post("/{deployment_id}/keys", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
def create_key(deployment_id: int, session: SessionDep, user: CurrentUser) -> KeyCreated:
    """A new API key for /v1; the key is in this answer only (the studio keeps its hash)."""
    row, key = DeploymentService(session).create_key(user, deployment_id)
    return KeyCreated(id=row.id, key=key, prefix=row.prefix)
