"""`ftstudio`: run the studio (embedded or against PostgreSQL + Redis), its worker, and talk to its API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from app.cli import api_commands
from app.cli.runtime import LocalWorker, apply_flags, exit_on_sigterm, migrate, redact, worker_argv

cli = typer.Typer(
    help="FT Studio: fine-tune open LLMs on your own data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where uploads, runs and models live.")]
Host = Annotated[str | None, typer.Option("--host")]
Port = Annotated[int | None, typer.Option("--port")]
DbUrl = Annotated[str | None, typer.Option("--database-url", help="Default: SQLite in the data dir.")]
BrokerUrl = Annotated[str | None, typer.Option("--redis-url", help="Default: a broker that needs no server.")]


def _serve(host: str, port: int) -> None:
    import uvicorn

    uvicorn.run("app.web:create_app", factory=True, host=host, port=port, log_level="info")


@cli.command()
def up(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    database_url: DbUrl = None,
    redis_url: BrokerUrl = None,
    demo_model: Annotated[bool, typer.Option(help="Prepare the SmolLM2 demo model on first start.")] = True,
    queues: str = "gpu",
) -> None:
    """Everything on one machine: migrate, load the demo, start one local worker and the web server."""
    from app.cli.access import prepare_access
    from app.cli.bootstrap import ensure_demo_dataset, ensure_demo_model

    settings = apply_flags(
        data_dir=data_dir, host=host, port=port, database_url=database_url, redis_url=redis_url
    )
    migrate()
    ensure_demo_dataset()
    if demo_model:
        ensure_demo_model()
    typer.echo(f"Database: {redact(settings.sqlalchemy_url)}")
    typer.echo(f"Broker:   {redact(settings.broker_url)}")
    prepare_access(settings)  # refuses a non-loopback bind without an admin password
    exit_on_sigterm()
    worker = LocalWorker(queues, grace_seconds=settings.cancel_grace_seconds + 15)
    try:
        worker.start()
        typer.echo(f"FT Studio is running at http://{settings.host}:{settings.port}  (Ctrl-C stops it)")
        _serve(settings.host, settings.port)
    finally:
        worker.stop()
        typer.echo("Stopped.")


@cli.command()
def web(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    database_url: DbUrl = None,
    redis_url: BrokerUrl = None,
) -> None:
    """Only the web server (workers run elsewhere)."""
    settings = apply_flags(
        data_dir=data_dir, host=host, port=port, database_url=database_url, redis_url=redis_url
    )
    from app.cli.access import prepare_access

    prepare_access(settings)
    _serve(settings.host, settings.port)


@cli.command()
def worker(
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    redis_url: BrokerUrl = None,
    queues: Annotated[str, typer.Option("--queues", "-Q")] = "gpu",
    loglevel: str = "INFO",
) -> None:
    """One worker: takes one job at a time from the queues (give each GPU its own worker)."""
    apply_flags(data_dir=data_dir, database_url=database_url, redis_url=redis_url)
    os.execv(worker_argv(queues, loglevel=loglevel)[0], worker_argv(queues, loglevel=loglevel))


@cli.command("migrate")
def migrate_command(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Create or upgrade the database schema (Alembic, to head)."""
    settings = apply_flags(data_dir=data_dir, database_url=database_url)
    migrate()
    typer.echo(f"Database at head: {redact(settings.sqlalchemy_url)}")


@cli.command()
def bootstrap(
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    demo_model: Annotated[bool, typer.Option(help="Also prepare the SmolLM2 demo model.")] = True,
) -> None:
    """Load the demo dataset and model into the catalog without starting anything (compose runs this)."""
    from app.cli.bootstrap import ensure_demo_dataset, ensure_demo_model

    apply_flags(data_dir=data_dir, database_url=database_url)
    migrate()
    ensure_demo_dataset()
    if demo_model:
        ensure_demo_model()


api_commands.register(cli)
for _module in (
    "app.cli.datasets_command",
    "app.cli.plan_command",
    "app.cli.eval_command",
    "app.cli.export_command",
    "app.cli.users_command",
    "app.cli.admin_audit_command",
    "app.cli.admin_command",
    "app.cli.deploy_command",
):
    try:
        __import__(_module, fromlist=["register"]).register(cli)
    except ModuleNotFoundError as _exc:
        if not (_exc.name and _module.startswith(_exc.name)):
            raise


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
