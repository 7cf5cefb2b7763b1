"""FastAPI dependency aliases shared by every router.

Who is asking is a ``Principal``. New objects belong to ``principal.user_id``; queries are scoped with
``principal.scope_owner_id`` (None for an admin, who sees everything; a member's own id otherwise), so
isolation lives in the repositories' ``owner_id`` filter and never in a handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from app.db import get_session
from app.errors import StudioError
from app.models import Role


@dataclass(frozen=True)
class Principal:
    user_id: int
    role: str = Role.ADMIN
    name: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def scope_owner_id(self) -> int | None:
        """The owner filter for queries: admins see every owner's objects."""
        return None if self.is_admin else self.user_id


class Forbidden(StudioError):
    status_code = 403


class NotSignedIn(StudioError):
    status_code = 401


def current_principal(request: HTTPConnection) -> Principal:  # a Request, or a WebSocket
    """The signed-in user, resolved once per request by app/users/security.AuthMiddleware (a Bearer token
    or the session cookie); a request without one never reaches a route that needs it."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise NotSignedIn("Sign in first.")
    return principal


def current_user_id(principal: Principal = Depends(current_principal)) -> int:
    return principal.user_id


def require_admin(principal: Principal = Depends(current_principal)) -> Principal:
    if not principal.is_admin:
        raise Forbidden("Only an admin can do this.")
    return principal


SessionDep = Annotated[Session, Depends(get_session)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
AdminUser = Annotated[Principal, Depends(require_admin)]
CurrentUserId = Annotated[int, Depends(current_user_id)]
