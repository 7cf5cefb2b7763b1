from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.clients import auth_headers
from tests.spine.embedded_server import EmbeddedStudio
from tests.spine.studio import (
    Studio,
    create_pg_database,
    drop_pg_database,
    postgres_available,
    redis_available,
    studio_env,
)

COUNSELLING_ROWS = [
    (
        "我最近总是睡不着，躺在床上脑子停不下来。",
        "听起来你最近压力不小。睡前脑子停不下来的时候，你通常在想些什么呢？",
    ),
    (
        "考试快到了，我一看书就心慌。",
        "考前紧张很常见。我们可以先把复习拆成小块，每完成一块就给自己一点肯定。",
    ),
    ("我和室友总是因为小事吵架。", "同住一个空间确实容易有摩擦。你愿意说说最近一次争执是因为什么吗？"),
    (
        "工作上领导总是批评我，我觉得自己很没用。",
        "被反复批评会让人怀疑自己。但批评针对的是事情，不等于你这个人没有价值。",
    ),
    ("我不敢在很多人面前说话。", "当众说话紧张的人很多。我们可以从小范围、熟悉的人开始练习。"),
    ("父母总拿我和别人家的孩子比较。", "被比较的感觉很难受。你有没有试过告诉他们你的感受？"),
]


def write_dataset(path: Path, repeats: int = 4) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(repeats):
            for question, answer in COUNSELLING_ROWS:
                row = {
                    "messages": [
                        {"role": "user", "content": f"{question}（第{i + 1}次）"},
                        {"role": "assistant", "content": answer},
                    ]
                }
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worker.training.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama") / "model", arch="llama")


# What the in-process FastAPI app reads: pointed at the same studio as the worker while it runs.
IN_PROCESS_KEYS = (
    "FTSTUDIO_DATA_DIR",
    "DATABASE_URL",
    "REDIS_URL",
    "FTSTUDIO_DEFAULT_QUEUE",
    "FTSTUDIO_HEARTBEAT_INTERVAL_SECONDS",
)


def make_studio(mode: str, tmp: Path) -> Iterator[Studio]:
    from app.migrations import upgrade_to_head
    from app.settings import settings_from

    database_url, pg_name = None, None
    if mode == "real":
        if not postgres_available():
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432 (CI starts it; see .ci/run)")
        if not redis_available():
            pytest.skip("Redis is not reachable at 127.0.0.1:6379 (CI starts it; see .ci/run)")
        pg_name, database_url = create_pg_database()
    studio = Studio(mode=mode, data_dir=tmp, env=studio_env(mode, tmp, database_url))
    try:
        with settings_from({key: studio.env.get(key) for key in IN_PROCESS_KEYS}) as settings:
            try:
                upgrade_to_head(settings.sqlalchemy_url)
                yield studio
            finally:
                studio.stop_worker()
    finally:
        if pg_name:
            from app.db import engine_for

            engine_for(database_url).dispose()
            drop_pg_database(pg_name)


@pytest.fixture(scope="module", params=["real", "embedded"])
def studio(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    yield from make_studio(request.param, tmp_path_factory.mktemp(f"studio-{request.param}"))


@pytest.fixture(scope="module")
def client(studio: Studio) -> Iterator[TestClient]:
    from app.web import create_app
    from tests.clients import studio_client

    with studio_client(create_app()) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def running_worker(studio: Studio) -> Studio:
    studio.start_worker()
    return studio


@pytest.fixture(scope="module")
def tiny_model_id(client: TestClient, tiny_model_dir: Path) -> str:
    response = client.post(
        "/api/v1/models", json={"path": str(tiny_model_dir), "name": "tiny-llama", "id": "tiny-llama"}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture(scope="module")
def dataset_id(client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> int:
    path = write_dataset(tmp_path_factory.mktemp("data") / "counselling.jsonl")
    with path.open("rb") as handle:
        response = client.post(
            "/api/v1/datasets", files={"file": (path.name, handle)}, data={"val_set_size": "4"}
        )
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[EmbeddedStudio]:
    """`ftstudio up --no-demo-model` in a subprocess, with the tiny model registered over HTTP."""
    import httpx

    studio = EmbeddedStudio(tmp_path_factory.mktemp("embedded") / "data", "--no-demo-model")
    try:
        studio.wait_ready()
        response = httpx.post(
            f"{studio.url}/api/v1/models",
            json={"path": str(tiny_model_dir), "id": "tiny-llama", "name": "tiny-llama"},
            headers=auth_headers(studio.data_dir),
        )
        assert response.status_code == 201, response.text
        yield studio
    finally:
        code = studio.stop()
        assert code == 0, f"ftstudio up did not stop cleanly on Ctrl-C:\n{studio.output()}"
        assert studio.leftover_processes() == [], "ftstudio up left processes behind"
