"""`ftstudio admin ...`: workers and the queue, straight from the database (like `ftstudio models list`), so
it works on the server even when the web is down. The users branch attaches `admin audit` to `admin_app`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from app.errors import StudioError

admin_app = typer.Typer(help="Admin: workers, devices and the job queue.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="The studio's data dir.")]
DbUrl = Annotated[str | None, typer.Option("--database-url", help="Default: SQLite in the data dir.")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
T = TypeVar("T")


def _with_service(data_dir: Path | None, database_url: str | None, work: Callable[[Any], T]) -> T:
    from app.admin.service import AdminService
    from app.cli.runtime import apply_flags, migrate
    from app.db import session_scope

    apply_flags(data_dir=data_dir, database_url=database_url)
    migrate()
    try:
        with session_scope() as session:
            return work(AdminService(session))
    except StudioError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from exc


def _emit(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    typer.echo("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        typer.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


def _device_summary(devices: list[dict[str, Any]]) -> str:
    parts = []
    for d in devices:
        if d.get("kind") == "gpu":
            parts.append(
                f"GPU{d.get('index')} {d.get('name')} {int(d.get('memory_total_bytes') or 0) >> 30} GiB"
            )
        else:
            parts.append(f"CPU {d.get('cores')} cores {int(d.get('memory_total_bytes') or 0) >> 30} GiB")
    return ", ".join(parts)


@admin_app.command("workers")
def workers(data_dir: DataDir = None, database_url: DbUrl = None, as_json: AsJson = False) -> None:
    """Workers seen in the last day, their status (online, draining, offline), devices and current job."""
    rows = _with_service(data_dir, database_url, lambda s: [w.model_dump(mode="json") for w in s.workers()])
    for row in rows:
        row["summary"] = _device_summary(row["devices"])
    _emit(rows, ["id", "status", "queues", "current_job_id", "summary"], as_json)


@admin_app.command("queue")
def queue(data_dir: DataDir = None, database_url: DbUrl = None, as_json: AsJson = False) -> None:
    """Queued jobs in the order they will start."""
    rows = _with_service(data_dir, database_url, lambda s: [j.model_dump(mode="json") for j in s.queue()])
    _emit(rows, ["queue_position", "id", "name", "queue", "priority", "estimated_start_at"], as_json)


@admin_app.command("drain")
def drain(worker_id: str, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """The worker finishes its current job and takes no more."""
    worker = _with_service(data_dir, database_url, lambda s: s.set_draining(worker_id, True))
    typer.echo(f"{worker.id} {worker.status}")


@admin_app.command("undrain")
def undrain(worker_id: str, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    worker = _with_service(data_dir, database_url, lambda s: s.set_draining(worker_id, False))
    typer.echo(f"{worker.id} {worker.status}")


@admin_app.command("top")
def top(job_id: int, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Move a queued job to the front of the queue."""
    job = _with_service(data_dir, database_url, lambda s: s.top(job_id))
    typer.echo(f"job {job.id} priority {job.priority} position {job.queue_position}")


@admin_app.command("priority")
def priority(job_id: int, value: int, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Set a queued job's priority (higher starts first)."""
    job = _with_service(data_dir, database_url, lambda s: s.set_priority(job_id, value))
    typer.echo(f"job {job.id} priority {job.priority} position {job.queue_position}")


@admin_app.command("requeue")
def requeue(job_id: int, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Run a failed, interrupted or cancelled job again, from its last checkpoint."""
    job = _with_service(data_dir, database_url, lambda s: s.requeue(job_id))
    typer.echo(f"job {job.id} {job.status}")


def register(cli: typer.Typer) -> None:
    try:  # `ftstudio admin audit`, from the users branch, when present
        from app.cli.admin_audit_command import register_audit
    except ModuleNotFoundError as exc:
        if not (exc.name and exc.name.startswith("app.cli.admin_audit_command")):
            raise
    else:
        register_audit(admin_app)
    cli.add_typer(admin_app, name="admin")
