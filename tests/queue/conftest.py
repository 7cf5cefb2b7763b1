from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.spine.conftest import make_studio, tiny_model_dir  # noqa: F401  (fixture re-export)
from tests.spine.studio import Studio

# The queue tests use the test-only "sleep" job kind (worker/tasks/test_kinds.py) and a short heartbeat
# window, in this process and in the workers they start.
QUEUE_ENV = {
    "FTSTUDIO_ENABLE_TEST_JOB_KINDS": "1",
    "FTSTUDIO_HEARTBEAT_TIMEOUT_SECONDS": "6",
}


@pytest.fixture
def queue_env() -> Iterator[None]:
    from app.settings import reset_settings_cache

    saved = {k: os.environ.get(k) for k in QUEUE_ENV}
    os.environ.update(QUEUE_ENV)
    reset_settings_cache()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings_cache()


def _studio(mode: str, tmp: Path) -> Iterator[Studio]:
    from tests.queue.helpers import stop_all

    setup = make_studio(mode, tmp)
    studio = next(setup)
    studio.env.update(QUEUE_ENV)
    try:
        yield studio
    finally:
        stop_all(studio)  # the extra workers, before make_studio drops the database
        next(setup, None)


@pytest.fixture
def embedded_studio(tmp_path: Path, queue_env: None) -> Iterator[Studio]:
    yield from _studio("embedded", tmp_path)


@pytest.fixture
def real_studio(tmp_path: Path, queue_env: None) -> Iterator[Studio]:
    yield from _studio("real", tmp_path)
