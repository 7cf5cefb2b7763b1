"""Fixtures of the synthesis tests: the tiny-LM endpoint (tests/synthesis/endpoint.py), a real studio
(PostgreSQL + Redis + a Celery worker) from the spine's fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.spine.conftest import make_studio
from tests.spine.studio import Studio
from tests.synthesis.endpoint import TinyEndpoint, load_or_train

API_KEY = "sk-synth-test-7f3c9a1be54d4c2e8d1f"  # distinctive, so a grep finds any copy of it


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyEndpoint]:
    model, tokenizer = load_or_train(tmp_path_factory.mktemp("synth-model") / "model")
    server = TinyEndpoint(model, tokenizer)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def real_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    yield from make_studio("real", tmp_path_factory.mktemp("synth-real"))


@pytest.fixture(scope="module")
def worker(real_studio: Studio) -> Studio:
    real_studio.start_worker()
    return real_studio


@pytest.fixture(scope="module")
def api(worker: Studio) -> Iterator:
    from tests.clients import studio_client

    with studio_client() as client:
        yield client


def data_dir_of(studio: Studio) -> Path:
    return studio.data_dir
