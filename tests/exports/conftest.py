"""Fixtures of the export/resume/form tests: the spine's real studio (PostgreSQL + Redis, and SQLite + the
filesystem broker), a real Celery worker, the tiny Llama model and a small counselling dataset."""

from __future__ import annotations

from tests.spine.conftest import (  # noqa: F401
    client,
    dataset_id,
    running_worker,
    studio,
    tiny_model_dir,
    tiny_model_id,
)
