"""How tests reach a studio as a signed-in user. Every test that talks HTTP goes through these, so the
way of signing in (tokens, session cookies) is decided in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient


def auth_headers(data_dir: Path | None = None, *, user: str | None = None) -> dict[str, str]:
    """Headers that sign a request in as ``user`` (default: the local admin) of the studio whose data
    directory is ``data_dir`` (default: the current settings')."""
    return {}


def studio_client(app: Any | None = None, *, user: str | None = None, **kwargs: Any) -> TestClient:
    """An in-process TestClient signed in as ``user`` (default: the local admin)."""
    if app is None:
        from app.web import create_app

        app = create_app()
    client = TestClient(app, **kwargs)
    client.headers.update(auth_headers(user=user))
    return client
