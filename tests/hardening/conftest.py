"""Fixtures of the input and file safety tests: a whole studio (PostgreSQL and SQLite), a signed-in
in-process client, a member client (the principal overridden, as sign-in will set it), and helpers that
count what the studio holds in its database and data directory, so a refused request can be shown to
leave nothing behind."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.clients import studio_client
from tests.spine.conftest import make_studio, tiny_model_dir  # noqa: F401
from tests.spine.studio import Studio

MEMBER_NAME = "hardening-member"


@pytest.fixture(scope="module", params=["real", "embedded"])
def studio(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    yield from make_studio(request.param, tmp_path_factory.mktemp(f"hard-{request.param}"))


@pytest.fixture(scope="module")
def app(studio: Studio):  # type: ignore[no-untyped-def]
    from app.web import create_app

    application = create_app()
    yield application
    application.dependency_overrides.clear()


@pytest.fixture(scope="module")
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with studio_client(app) as http:
        yield http


@pytest.fixture(scope="module")
def member_id(studio: Studio) -> int:
    from app.db import session_scope
    from app.models import Role, User

    with session_scope() as session:
        found = session.scalar(select(User).where(User.name == MEMBER_NAME))
        if found is None:
            found = User(name=MEMBER_NAME, role=Role.USER)
            session.add(found)
            session.flush()
        return found.id


@pytest.fixture
def as_member(app, member_id: int) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Requests run as a member (not an admin) while this fixture is active."""
    from app.deps import Principal, current_principal
    from app.models import Role

    app.dependency_overrides[current_principal] = lambda: Principal(user_id=member_id, role=Role.USER)
    yield
    app.dependency_overrides.pop(current_principal, None)


def _count_rows() -> dict[str, int]:
    from app.db import session_scope
    from app.models import BaseModel, Dataset, DatasetVersion, Job

    with session_scope() as session:
        return {m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
                for m in (Dataset, DatasetVersion, Job, BaseModel)}  # fmt: skip


def _files(data_dir: Path) -> set[str]:
    skip = ("ftstudio.db", "broker")  # the database and the message queue change with every request
    # The web's own keys (session signing, secrets encryption), made once when an app first starts.
    made_at_start = {"secret_key", "server_secret.key"}
    return {
        str(p.relative_to(data_dir))
        for p in data_dir.rglob("*")
        if p.is_file()
        and not str(p.relative_to(data_dir)).startswith(skip)
        and str(p.relative_to(data_dir)) not in made_at_start
    }


@pytest.fixture
def unchanged(studio: Studio) -> Callable[[], None]:
    """Call it after a refused request: no database row and no file in the data dir appeared."""
    rows, files = _count_rows(), _files(studio.data_dir)

    def check() -> None:
        assert _count_rows() == rows, "a refused request left rows in the database"
        assert _files(studio.data_dir) == files, "a refused request left files in the data directory"

    return check


def make_model_folder(folder: Path, *, config: object = None, weights: str = "model.safetensors") -> Path:
    """A folder that looks like a Hugging Face model (enough for registration, which never loads it)."""
    folder.mkdir(parents=True, exist_ok=True)
    body = (
        config if isinstance(config, str) else json.dumps(config or {"architectures": ["LlamaForCausalLM"]})
    )
    (folder / "config.json").write_text(body, encoding="utf-8")
    if weights:
        (folder / weights).write_bytes(b"\0" * 16)
    return folder


@pytest.fixture
def client_with(studio: Studio, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A client of an app built under extra settings (e.g. a small upload limit), for this test only."""
    from app.settings import reset_settings_cache
    from app.web import create_app

    opened: list[TestClient] = []

    def make(**env: object) -> TestClient:
        for key, value in env.items():
            monkeypatch.setenv(f"FTSTUDIO_{key.upper()}", str(value))
        reset_settings_cache()
        http = studio_client(create_app())
        opened.append(http)
        return http

    yield make
    for http in opened:
        http.close()
    monkeypatch.undo()
    reset_settings_cache()


def upload(http: TestClient, filename: str, content: bytes, **form: object):  # type: ignore[no-untyped-def]
    data = {k: str(v) for k, v in form.items() if v is not None}
    return http.post("/api/v1/datasets", files={"file": (filename, content)}, data=data)


def jsonl(*rows: dict | str) -> bytes:
    return "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows
    ).encode()


def chat(question: str = "你好，请问怎么办？", answer: str = "别担心，我们一起想办法。") -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}
