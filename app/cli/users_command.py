"""`ftstudio users ...`: accounts and API tokens, on the database directly (no web server needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

users_cli = typer.Typer(help="Users, roles and API tokens.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="The studio's data directory.")]


def _open(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from app.cli.runtime import apply_flags, migrate

    settings = apply_flags(data_dir=data_dir)
    migrate()
    return settings


def _fail(exc: Exception) -> None:
    message = getattr(exc, "message", str(exc))
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=1)


@users_cli.command("create")
def users_create(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="An admin sees and manages everything.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Create a user (a member unless --admin). Without a password the user signs in with tokens only."""
    from app.db import session_scope
    from app.errors import StudioError
    from app.users.service import UserService

    _open(data_dir)
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        with session_scope() as session:
            user = UserService(session).create(name, admin=admin, password=password)
            role = user.role
    except StudioError as exc:
        _fail(exc)
    typer.echo(f"Created {role} {name}.")


@users_cli.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False, data_dir: DataDir = None) -> None:
    """Every user with role, state and quotas."""
    from app.db import session_scope
    from app.users.schemas import UserRead
    from app.users.service import UserService

    _open(data_dir)
    with session_scope() as session:
        rows = [UserRead.model_validate(u).model_dump(mode="json") for u in UserService(session).list()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "disabled" if row["disabled"] else "active"
        typer.echo(f"{row['id']:>4}  {row['name']:<24} {row['role']:<7} {state}")


@users_cli.command("token")
def users_token(
    user: Annotated[str | None, typer.Option("--user", help="Default: the local admin.")] = None,
    name: Annotated[str, typer.Option("--name", help="A label to recognise the token by.")] = "cli",
    expires: Annotated[float | None, typer.Option("--expires", help="Days until it expires.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Print a new API token (alone, on the last line). It is shown only this once."""
    from app.db import session_scope
    from app.errors import StudioError
    from app.users.service import UserService

    _open(data_dir)
    try:
        with session_scope() as session:
            service = UserService(session)
            account = service.require(user) if user else service.local_admin()
            token, secret = service.create_token(account, name=name, expires_in_days=expires)
            label = f"Token {token.name!r} for {account.name}" + (
                f", expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else ""
            )
    except StudioError as exc:
        _fail(exc)
    typer.echo(f"{label} (shown once; send it as 'Authorization: Bearer ...' or set FTSTUDIO_TOKEN):")
    typer.echo(secret)


@users_cli.command("disable")
def users_disable(name: str, data_dir: DataDir = None) -> None:
    """Disable a user: their sessions and tokens stop working at once."""
    from app.db import session_scope
    from app.errors import StudioError
    from app.users.service import UserService

    _open(data_dir)
    try:
        with session_scope() as session:
            service = UserService(session)
            service.set_disabled(service.require(name), True)
    except StudioError as exc:
        _fail(exc)
    typer.echo(f"Disabled {name}.")


@users_cli.command("link")
def users_link(data_dir: DataDir = None) -> None:
    """Print a new one-time sign-in link for the local admin (a studio on this machine)."""
    from app.cli.access import signin_link

    settings = _open(data_dir)
    typer.echo(signin_link(settings))


def register(cli: typer.Typer) -> None:
    cli.add_typer(users_cli, name="users")
