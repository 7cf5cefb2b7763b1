"""How tests reach a studio as a signed-in user. Every test that talks HTTP goes through these, so the
way of signing in is decided in one place: a real API token (app/users/tokens.py) for the user, made in
the studio's own database, sent as ``Authorization: Bearer``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

# TestClient's default host "testserver" is not one the studio answers (Host check); a loopback name is.
BASE_URL = "http://localhost"
_tokens: dict[tuple[str, str], str] = {}


def _database_url(data_dir: Path | None) -> str:
    from app.settings import get_settings

    settings = get_settings()
    if data_dir is not None and not settings.database_url:
        return f"sqlite:///{Path(data_dir).resolve() / 'ftstudio.db'}"
    if data_dir is not None and Path(data_dir).resolve() != settings.resolved_data_dir:
        db = Path(data_dir).resolve() / "ftstudio.db"
        if db.exists():  # an embedded studio started beside a real-mode test session
            return f"sqlite:///{db}"
    return settings.sqlalchemy_url


def token_for(user: str | None = None, data_dir: Path | None = None, *, admin: bool = False) -> str:
    """A live API token of ``user`` (created as a member, or an admin with ``admin=True``, if missing;
    default: the local admin) in the database of the studio at ``data_dir``."""
    from sqlalchemy.orm import Session

    from app.db import engine_for
    from app.users.service import UserService
    from app.users.tokens import find_token, issue_token

    url = _database_url(data_dir)
    key = (url, user or "")
    with Session(engine_for(url)) as session:
        if key in _tokens and find_token(session, _tokens[key]) is not None:
            return _tokens[key]
        service = UserService(session)
        if user is None:
            account = service.local_admin()
        else:
            account = service.by_name(user) or service.create(user, admin=admin)
        _, secret = issue_token(session, account, name="tests")
        session.commit()
    _tokens[key] = secret
    return secret


def auth_headers(
    data_dir: Path | None = None, *, user: str | None = None, admin: bool = False
) -> dict[str, str]:
    """Headers that sign a request in as ``user`` (default: the local admin) of the studio whose data
    directory is ``data_dir`` (default: the current settings')."""
    return {"Authorization": f"Bearer {token_for(user, data_dir, admin=admin)}"}


def studio_client(
    app: Any | None = None, *, user: str | None = None, admin: bool = False, **kwargs: Any
) -> TestClient:
    """An in-process TestClient signed in as ``user`` (default: the local admin)."""
    if app is None:
        from app.web import create_app

        app = create_app()
    kwargs.setdefault("base_url", BASE_URL)
    client = TestClient(app, **kwargs)
    client.headers.update(auth_headers(user=user, admin=admin))
    return client


def signin_url(base_url: str, data_dir: Path | None = None, *, user: str | None = None) -> str:
    """A fresh one-time sign-in link (what `ftstudio up` prints) for a browser test signing in as ``user``."""
    from sqlalchemy.orm import Session

    from app.db import engine_for
    from app.models import TokenKind
    from app.users.service import UserService
    from app.users.tokens import issue_token

    token_for(user, data_dir)  # creates the user if needed
    with Session(engine_for(_database_url(data_dir))) as session:
        service = UserService(session)
        account = service.local_admin() if user is None else service.require(user)
        _, secret = issue_token(session, account, name="test link", expires_in_days=1, kind=TokenKind.SIGNIN)
        session.commit()
    return f"{base_url.rstrip('/')}/auth/link?token={secret}"


def browser_client(app: Any, *, user: str, password: str, **kwargs: Any) -> TestClient:
    """A TestClient signed in the way a browser is: the /login form (with its CSRF field) sets the session
    cookie; ``client.csrf`` is the token the pages put in hx-headers and hidden fields."""
    import re

    kwargs.setdefault("base_url", BASE_URL)
    client = TestClient(app, **kwargs)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "the sign-in page has no CSRF field"
    response = client.post(
        "/login",
        data={"name": user, "password": password, "csrf_token": token.group(1), "next": "/jobs"},
        headers={"Origin": BASE_URL},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/jobs")
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found, "base.html does not send the CSRF token with htmx requests"
    client.csrf = found.group(1)  # type: ignore[attr-defined]
    return client


@contextmanager
def sqlite_studio_client(data_dir: Path) -> Iterator[TestClient]:
    """The real app on a fresh SQLite studio in ``data_dir`` (migrated), signed in as the local admin; the
    environment it changed is put back afterwards."""
    from app.migrations import upgrade_to_head
    from app.settings import settings_from

    with settings_from({"FTSTUDIO_DATA_DIR": str(data_dir), "DATABASE_URL": None}) as settings:
        upgrade_to_head(settings.sqlalchemy_url)
        with studio_client() as client:
            yield client
