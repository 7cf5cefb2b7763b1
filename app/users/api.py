"""Accounts over the API: your own tokens (/api/v1/account), and the admin's users and audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.audit.service import recent
from app.deps import AdminUser, CurrentUser, SessionDep
from app.users.schemas import (
    AuditRead,
    Me,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from app.users.service import QuotaUpdate, UserService

router = APIRouter(prefix="/api/v1", tags=["users"])

QUOTA_FIELDS = ("max_running_jobs", "max_queued_jobs", "max_storage_bytes")


@router.get("/me", response_model=Me)
def me(user: CurrentUser, session: SessionDep) -> Me:
    account = UserService(session).get(user.user_id)
    return Me(id=account.id, name=account.name, role=account.role)


@router.get("/account/tokens", response_model=list[TokenRead])
def my_tokens(user: CurrentUser, session: SessionDep) -> list[TokenRead]:
    service = UserService(session)
    return [TokenRead.model_validate(t) for t in service.tokens(service.get(user.user_id))]


@router.post("/account/tokens", response_model=TokenCreated, status_code=201)
def create_my_token(body: TokenCreate, user: CurrentUser, session: SessionDep) -> TokenCreated:
    service = UserService(session)
    token, secret = service.create_token(
        service.get(user.user_id), name=body.name, expires_in_days=body.expires_in_days, actor_id=user.user_id
    )
    session.commit()
    return TokenCreated(**TokenRead.model_validate(token).model_dump(), token=secret)


@router.delete("/account/tokens/{token_id}", response_model=TokenRead)
def revoke_my_token(token_id: int, user: CurrentUser, session: SessionDep) -> TokenRead:
    token = UserService(session).revoke_token(user.user_id, token_id, actor_id=user.user_id)
    session.commit()
    return TokenRead.model_validate(token)


# --- admin -----------------------------------------------------------------------------------------
@router.get("/admin/users", response_model=list[UserRead])
def list_users(admin: AdminUser, session: SessionDep) -> list[UserRead]:
    return [UserRead.model_validate(u) for u in UserService(session).list()]


@router.post("/admin/users", response_model=UserRead, status_code=201)
def create_user(body: UserCreate, admin: AdminUser, session: SessionDep) -> UserRead:
    user = UserService(session).create(
        body.name, admin=body.admin, password=body.password, actor_id=admin.user_id
    )
    session.commit()
    return UserRead.model_validate(user)


@router.patch("/admin/users/{user_id}", response_model=UserRead)
def update_user(user_id: int, body: UserUpdate, admin: AdminUser, session: SessionDep) -> UserRead:
    service = UserService(session)
    user = service.get(user_id)
    sent = body.model_fields_set
    if body.role is not None:
        service.set_role(user, body.role, actor_id=admin.user_id)
    if body.disabled is not None:
        service.set_disabled(user, body.disabled, actor_id=admin.user_id)
    if body.password is not None:
        service.set_password(user, body.password, actor_id=admin.user_id)
    if sent & set(QUOTA_FIELDS):
        quota = QuotaUpdate(**{f: getattr(body, f) if f in sent else getattr(user, f) for f in QUOTA_FIELDS})
        service.set_quota(user, quota, actor_id=admin.user_id)
    session.commit()
    return UserRead.model_validate(user)


@router.get("/admin/users/{user_id}/tokens", response_model=list[TokenRead])
def user_tokens(user_id: int, admin: AdminUser, session: SessionDep) -> list[TokenRead]:
    service = UserService(session)
    return [TokenRead.model_validate(t) for t in service.tokens(service.get(user_id))]


@router.post("/admin/users/{user_id}/tokens", response_model=TokenCreated, status_code=201)
def create_user_token(user_id: int, body: TokenCreate, admin: AdminUser, session: SessionDep) -> TokenCreated:
    """A token for another user (e.g. a service account); shown once, like the user's own."""
    service = UserService(session)
    token, secret = service.create_token(
        service.get(user_id), name=body.name, expires_in_days=body.expires_in_days, actor_id=admin.user_id
    )
    session.commit()
    return TokenCreated(**TokenRead.model_validate(token).model_dump(), token=secret)


@router.delete("/admin/tokens/{token_id}", response_model=TokenRead)
def revoke_any_token(token_id: int, admin: AdminUser, session: SessionDep) -> TokenRead:
    token = UserService(session).revoke_token(None, token_id, actor_id=admin.user_id)
    session.commit()
    return TokenRead.model_validate(token)


@router.get("/admin/audit", response_model=list[AuditRead])
def audit_log(
    admin: AdminUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    actor: str | None = None,
    action: str | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> list[AuditRead]:
    rows = recent(session, limit=limit, actor=actor, action=action, before_id=before_id)
    return [AuditRead.model_validate(r) for r in rows]
