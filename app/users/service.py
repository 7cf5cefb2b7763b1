"""Accounts: create, list, disable, roles, quotas, passwords, password sign-in with rate limiting."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.service import record
from app.errors import Conflict, InvalidInput, NotFound, StudioError
from app.models import LOCAL_USER_ID, ApiToken, AuditEntry, Role, TokenKind, User, utcnow
from app.settings import get_settings
from app.users.passwords import hash_password, verify_password
from app.users.tokens import issue_token, revoke

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,119}$")
MIN_PASSWORD = 8
LOGIN_FAILED = "login.failed"


class TooManyAttempts(StudioError):
    status_code = 429


class SignInRefused(StudioError):
    status_code = 401


@dataclass
class QuotaUpdate:
    max_running_jobs: int | None = None
    max_queued_jobs: int | None = None
    max_storage_bytes: int | None = None


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD} characters.", field="password")
    if len(password) > 1024:
        raise InvalidInput("A password can have at most 1024 characters.", field="password")


class UserService:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- reading ------------------------------------------------------------------------------
    def list(self) -> list[User]:
        return list(self.session.scalars(select(User).order_by(User.id)))

    def get(self, user_id: int) -> User:
        user = self.session.get(User, user_id)
        if user is None:
            raise NotFound(f"User {user_id} does not exist.")
        return user

    def by_name(self, name: str) -> User | None:
        return self.session.scalar(select(User).where(User.name == name))

    def require(self, name: str) -> User:
        user = self.by_name(name)
        if user is None:
            raise NotFound(f"User {name!r} does not exist.", field="name")
        return user

    def local_admin(self) -> User:
        return self.get(LOCAL_USER_ID)

    # --- changing (the caller commits) ------------------------------------------------------
    def create(
        self, name: str, *, admin: bool = False, password: str | None = None, actor_id: int | None = None
    ) -> User:
        if not NAME_RE.match(name or ""):
            raise InvalidInput(
                "A user name is 1-120 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit.",
                field="name",
            )
        if self.by_name(name) is not None:
            raise Conflict(f"User {name!r} already exists.", field="name")
        user = User(name=name, role=Role.ADMIN if admin else Role.MEMBER)
        if password is not None:
            check_password_strength(password)
            user.password_hash = hash_password(password)
        self.session.add(user)
        self.session.flush()
        record(self.session, actor_id, "user.create", "user", user.id, f"role={user.role}")
        return user

    def set_password(self, user: User, password: str, *, actor_id: int | None = None) -> None:
        check_password_strength(password)
        user.password_hash = hash_password(password)
        user.sessions_valid_after = utcnow()  # a new password signs out the old sessions
        record(self.session, actor_id, "user.password", "user", user.id)

    def set_role(self, user: User, role: str, *, actor_id: int | None = None) -> None:
        if role not in (Role.ADMIN, Role.MEMBER):
            raise InvalidInput("role is 'admin' or 'member'.", field="role")
        if user.role == role:
            return
        if role != Role.ADMIN:
            self._keep_one_admin(user)
        record(self.session, actor_id, "user.role", "user", user.id, f"{user.role} -> {role}")
        user.role = role

    def set_disabled(self, user: User, disabled: bool, *, actor_id: int | None = None) -> None:
        if disabled:
            self._keep_one_admin(user)
        if user.disabled != disabled:
            user.disabled = disabled
            user.sessions_valid_after = utcnow()
            record(self.session, actor_id, "user.disable" if disabled else "user.enable", "user", user.id)

    def set_quota(self, user: User, quota: QuotaUpdate, *, actor_id: int | None = None) -> None:
        changes = []
        for field in ("max_running_jobs", "max_queued_jobs", "max_storage_bytes"):
            value = getattr(quota, field)
            if value is not None and value < 0:
                raise InvalidInput(f"{field} cannot be negative (empty means no limit).", field=field)
            if getattr(user, field) != value:
                changes.append(f"{field}: {getattr(user, field)} -> {value}")
                setattr(user, field, value)
        if changes:
            record(self.session, actor_id, "user.quota", "user", user.id, "; ".join(changes))

    def _keep_one_admin(self, user: User) -> None:
        if not user.is_admin or user.disabled:
            return
        admins = self.session.scalar(
            select(func.count(User.id)).where(User.role == Role.ADMIN, User.disabled.is_(False))
        )
        if (admins or 0) <= 1:
            raise Conflict("This is the last active admin; make another admin first.", field="role")

    # --- tokens -------------------------------------------------------------------------------
    def tokens(self, user: User) -> list[ApiToken]:
        query = (
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.kind == TokenKind.API)
            .order_by(ApiToken.id.desc())
        )
        return list(self.session.scalars(query))

    def create_token(
        self, user: User, *, name: str, expires_in_days: float | None = None, actor_id: int | None = None
    ) -> tuple[ApiToken, str]:
        name = (name or "").strip()
        if not name or len(name) > 120 or not name.isprintable():
            raise InvalidInput("A token needs a printable name of 1-120 characters.", field="name")
        if expires_in_days is not None and not (0 < expires_in_days <= 3650):
            raise InvalidInput(
                "expires_in_days is between 0 and 3650 (empty: never).", field="expires_in_days"
            )
        token, secret = issue_token(self.session, user, name=name, expires_in_days=expires_in_days)
        record(self.session, actor_id, "token.create", "token", token.id, f"user={user.name} name={name}")
        return token, secret

    def revoke_token(self, user_scope: int | None, token_id: int, *, actor_id: int | None = None) -> ApiToken:
        """Revokes a token of ``user_scope`` (None: any user's, for admins)."""
        token = self.session.get(ApiToken, token_id)
        if (
            token is None
            or token.kind != TokenKind.API
            or (user_scope is not None and token.user_id != user_scope)
        ):
            raise NotFound(f"Token {token_id} does not exist.")
        revoke(token)
        record(self.session, actor_id, "token.revoke", "token", token.id, f"name={token.name}")
        return token

    # --- password sign-in ----------------------------------------------------------------------
    def recent_failures(self, name: str, ip: str | None) -> int:
        since = utcnow() - timedelta(seconds=get_settings().login_window_seconds)
        query = select(func.count(AuditEntry.id)).where(
            AuditEntry.action == LOGIN_FAILED,
            AuditEntry.object_id == name[:200],
            AuditEntry.ip == ip,
            AuditEntry.created_at >= since,
        )
        return int(self.session.scalar(query) or 0)

    def authenticate(self, name: str, password: str, ip: str | None) -> User:
        """The user, or an error; every failure is an audit entry, which is also the rate limiter's memory
        (per user name + client address, so one attacker cannot lock a user out from everywhere)."""
        settings = get_settings()
        name = (name or "").strip()[:120]
        if self.recent_failures(name, ip) >= settings.login_max_failures:
            minutes = max(1, settings.login_window_seconds // 60)
            raise TooManyAttempts(
                f"Too many failed sign-ins for {name!r} from this address. Try again in {minutes} minutes."
            )
        user = self.by_name(name)
        ok = verify_password(user.password_hash if user else None, password or "")
        if not ok or user is None or user.disabled:
            record(
                self.session, user.id if user else None, LOGIN_FAILED, "user", name, ip=ip, actor_name=name
            )
            self.session.commit()
            raise SignInRefused(
                "Wrong user name or password." if not (ok and user) else "This account is disabled."
            )
        record(self.session, user.id, "login", "user", user.id, ip=ip)
        self.session.commit()
        return user
