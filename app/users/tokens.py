"""API tokens and one-time sign-in links: random secrets, only their sha256 stored, shown once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken, TokenKind, User, utcnow

TOKEN_PREFIX = "fts_"


def hash_token(secret: str) -> str:
    # A 256-bit random secret needs no slow hash: sha256 cannot be brute-forced back to it.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(
    session: Session,
    user: User,
    *,
    name: str,
    expires_in_days: float | None = None,
    kind: str = TokenKind.API,
) -> tuple[ApiToken, str]:
    """A new token row and its secret (the only time the secret exists outside the caller)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    row = ApiToken(
        user_id=user.id,
        name=name,
        kind=kind,
        token_hash=hash_token(secret),
        prefix=secret[:12],
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, secret


def is_live(token: ApiToken, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)


def find_token(session: Session, secret: str, kind: str = TokenKind.API) -> ApiToken | None:
    """The live token with this secret, or None (unknown, revoked, expired or another kind)."""
    if not secret or len(secret) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None or token.kind != kind or not is_live(token):
        return None
    return token


def revoke(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
