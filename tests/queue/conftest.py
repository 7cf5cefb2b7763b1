from __future__ import annotations

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
    from app.settings import settings_from

    with settings_from(QUEUE_ENV):
        yield


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
