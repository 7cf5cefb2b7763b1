"""Database and Redis passwords never appear in what the studio prints or logs."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import pytest

from app.migrations import REPO_ROOT
from app.secrets import SecretFilter, install_log_filter, mask_text, mask_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://ft:s3cr3t@db:5432/ft", "postgresql+psycopg://ft:***@db:5432/ft"),
        ("redis://:s3cr3t@redis:6379/0", "redis://:***@redis:6379/0"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
        ("postgresql://u:p%40s3cr3t@h/db?sslmode=require&password=s3cr3t",
         "postgresql://u:***@h/db?sslmode=require&password=***"),
        ("sqlite:////data/ftstudio.db", "sqlite:////data/ftstudio.db"),
        ("ftstudio-fs://", "ftstudio-fs://"),
    ],
)  # fmt: skip
def test_urls_are_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert "s3cr3t" not in mask_text(f"could not reach {url} (timeout)")


def _captured(logger: logging.Logger) -> io.StringIO:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return out


def test_log_lines_are_masked_by_the_handler_filter() -> None:
    logger = logging.getLogger("ftstudio.test-secrets")
    out = _captured(logger)
    install_log_filter(logger)
    logger.info("connecting to %s", "redis://:hunter2@redis:6379/0")
    logger.error("failed: postgresql://ft:hunter2@db/ft is down")
    text = out.getvalue()
    assert "hunter2" not in text and "redis://:***@redis:6379/0" in text and "ft:***@db" in text
    assert any(isinstance(f, SecretFilter) for f in logger.handlers[0].filters)


def test_the_worker_masks_its_loggers() -> None:
    from worker.celery_app import _mask_secrets_in_logs

    logger = logging.getLogger("ftstudio.test-worker-secrets")
    out = _captured(logger)
    _mask_secrets_in_logs(logger=logger)
    logger.info("broker %s", "redis://user:hunter2@r:6379/0")
    assert "hunter2" not in out.getvalue()


def test_the_web_app_masks_its_log_handlers(studio) -> None:
    from app.web import create_app

    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        create_app()
        assert any(isinstance(f, SecretFilter) for f in handler.filters)
    finally:
        root.removeHandler(handler)


def test_cli_migrate_prints_the_database_url_without_its_password(studio) -> None:
    if studio.mode != "real":
        pytest.skip("needs a PostgreSQL URL (the SQLite one has no password)")
    url = studio.env["DATABASE_URL"].replace("postgres@", "postgres:hunter2@")  # trust auth ignores it
    done = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "migrate", "--database-url", url],
        cwd=REPO_ROOT, env=studio.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "hunter2" not in done.stdout + done.stderr and "postgres:***@" in done.stdout
