"""The `ftstudio admin` group and its `audit` command. Other admin commands attach to ``admin_cli``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

admin_cli = typer.Typer(
    help="Administration: audit log (and workers/queue where installed).", no_args_is_help=True
)


def audit(
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's actions.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. login.failed, job.cancel")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Who did what, newest first (read from the database)."""
    from app.audit.service import recent
    from app.cli.runtime import apply_flags, migrate
    from app.db import session_scope
    from app.users.schemas import AuditRead

    apply_flags(data_dir=data_dir)
    migrate()
    with session_scope() as session:
        rows = [
            AuditRead.model_validate(e).model_dump(mode="json")
            for e in recent(session, limit=limit, actor=user, action=action)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        what = f"{row['object_type'] or ''} {row['object_id'] or ''}".strip()
        typer.echo(
            f"{row['created_at'][:19]}  {row['actor_name'] or '-':<16} {row['action']:<18} {what:<20} "
            f"{row['ip'] or ''}  {row['detail'] or ''}"
        )


def register_audit(admin_app: typer.Typer) -> None:
    admin_app.command("audit")(audit)


def register(cli: typer.Typer) -> None:
    register_audit(admin_cli)
    cli.add_typer(admin_cli, name="admin")
