"""Who may use a starting studio: the local admin's CLI token file, the one-time sign-in link on a
loopback bind, and the refusal to serve other addresses before an admin can sign in with a password."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from sqlalchemy import select

from app.db import session_scope
from app.models import ApiToken, Role, TokenKind, User
from app.settings import Settings
from app.users.security import allowed_hosts, is_loopback
from app.users.service import UserService
from app.users.tokens import find_token, issue_token

CLI_TOKEN_FILE = "cli_token"
CLI_TOKEN_NAME = "cli (data dir token file)"


def cli_token_path(settings: Settings) -> Path:
    return settings.resolved_data_dir / CLI_TOKEN_FILE


def write_private(path: Path, text: str) -> None:
    """0600 from the first byte: the file never exists readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.unlink(missing_ok=True)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    os.replace(temp, path)


def ensure_cli_token(settings: Settings) -> Path:
    """The local admin's token in <data_dir>/cli_token, which the CLI on this machine reads by itself."""
    path = cli_token_path(settings)
    with session_scope() as session:
        if path.exists() and find_token(session, path.read_text().strip()) is not None:
            return path
        admin = UserService(session).local_admin()
        _, secret = issue_token(session, admin, name=CLI_TOKEN_NAME)
    write_private(path, secret)
    return path


def signin_link(settings: Settings) -> str:
    """A one-time link that signs a browser in as the local admin (valid for a day or until used)."""
    with session_scope() as session:
        admin = UserService(session).local_admin()
        # Links printed before and never opened stop working: one live link at a time.
        for old in session.scalars(
            select(ApiToken).where(ApiToken.user_id == admin.id, ApiToken.kind == TokenKind.SIGNIN)
        ):
            old.revoked_at = old.revoked_at or old.created_at
        _, secret = issue_token(
            session, admin, name="one-time sign-in link", expires_in_days=1, kind=TokenKind.SIGNIN
        )
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    return f"http://{host}:{settings.port}/auth/link?token={secret}"


def apply_admin_password(settings: Settings) -> None:
    if settings.admin_password:
        with session_scope() as session:
            service = UserService(session)
            service.set_password(service.local_admin(), settings.admin_password)


def admin_can_sign_in() -> bool:
    with session_scope() as session:
        query = select(User.id).where(
            User.role == Role.ADMIN, User.disabled.is_(False), User.password_hash.is_not(None)
        )
        return session.scalar(query.limit(1)) is not None


def prepare_access(settings: Settings, *, print_link: bool = True) -> None:
    """Run before serving. Loopback: a CLI token file and a one-time sign-in link. Any other address:
    refuse to start until an admin has a password (FTSTUDIO_ADMIN_PASSWORD or `ftstudio users create`)."""
    apply_admin_password(settings)
    ensure_cli_token(settings)
    if not is_loopback(settings.host):
        if not admin_can_sign_in():
            typer.echo(
                f"Refusing to serve on {settings.host}: nobody could sign in. Set FTSTUDIO_ADMIN_PASSWORD, "
                "or run `ftstudio users create NAME --admin --password-stdin`, then start again.",
                err=True,
            )
            raise typer.Exit(code=2)
        if allowed_hosts(settings) == ["*"]:
            typer.echo(
                "Note: any Host header is answered; set FTSTUDIO_ALLOWED_HOSTS to the studio's names.",
                err=True,
            )
        return
    if print_link:
        typer.echo(f"Sign in (one-time link): {signin_link(settings)}")
