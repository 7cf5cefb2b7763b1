"""Shared start-up steps of the CLI commands: settings from flags, schema migration, process launching."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app.migrations import REPO_ROOT, upgrade_to_head
from app.settings import Settings, get_settings, reset_settings_cache


def apply_flags(
    *,
    data_dir: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    database_url: str | None = None,
    redis_url: str | None = None,
) -> Settings:
    """Flags win over the environment. They are written into the environment so that child processes
    (the local worker, training children) read the very same settings."""
    updates = {
        "FTSTUDIO_DATA_DIR": str(data_dir.expanduser().resolve()) if data_dir else None,
        "FTSTUDIO_HOST": host,
        "FTSTUDIO_PORT": str(port) if port else None,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
    }
    for key, value in updates.items():
        if value:
            os.environ[key] = value
    reset_settings_cache()
    settings = get_settings()
    # Children must see an absolute data dir even when it came from a relative default.
    os.environ["FTSTUDIO_DATA_DIR"] = str(settings.resolved_data_dir)
    reset_settings_cache()
    settings = get_settings()
    settings.ensure_dirs()
    return settings


def migrate() -> None:
    upgrade_to_head(get_settings().sqlalchemy_url)


def worker_argv(queues: str, *, loglevel: str = "INFO") -> list[str]:
    # Solo pool, one process: one job at a time per worker (one GPU each), and the task runs in the
    # worker's main thread, where Celery's shutdown signal reaches the supervisor's loop.
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "--prefetch-multiplier",
        "1",
        "-Q",
        queues,
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def redact(url: str) -> str:
    """Never print a password: postgresql://user:secret@host -> postgresql://user:***@host."""
    from app.secrets import mask_url

    return mask_url(url)


__all__ = ["REPO_ROOT", "apply_flags", "migrate", "redact", "worker_argv"]
