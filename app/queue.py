"""Wakes the workers. The web process only needs a Celery *client*: tasks are sent by name, so it imports
nothing of worker/ (and so nothing of torch).

A message is only a wake-up: the woken worker claims the best eligible queued job from the database
(app/jobs/scheduling.py), so order and exactly-once come from the database, not from message order, and a
message lost with a dying worker costs nothing (any live worker's sweep sends another)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from celery import Celery

from app.broker_fs import register as register_embedded_broker
from app.settings import Settings, get_settings

register_embedded_broker()

RUN_JOB_TASK = "ftstudio.run_job"
# Queue names become broker keys and, in embedded mode, parts of file names: letters, digits, - _ . only,
# never a path ("..", "a/b").
QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")


def valid_queue_name(name: str) -> bool:
    return bool(QUEUE_NAME.fullmatch(name)) and ".." not in name


def known_queues(settings: Settings | None = None) -> list[str]:
    """The queues a job may name: the configured ones plus the default queue."""
    settings = settings or get_settings()
    names = [settings.default_queue, *settings.queues]
    return [name for i, name in enumerate(names) if name not in names[:i] and valid_queue_name(name)]


def celery_config(settings: Settings) -> dict[str, Any]:
    """One configuration for the client (web) and the server (worker), so they always agree."""
    config: dict[str, Any] = {
        "broker_url": settings.broker_url,
        # The database owns job state; Celery results would be a second source of truth.
        "task_ignore_result": True,
        "result_backend": None,
        # Acknowledge on receipt: a job that trains for hours is never redelivered by Redis' visibility
        # timeout (Celery docs, "Redis caveats"). A lost worker is found by its stale heartbeat instead and
        # its job marked interrupted, resumable from the last checkpoint.
        "task_acks_late": False,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": settings.default_queue,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "task_serializer": "json",
        "accept_content": ["json"],
    }
    if settings.embedded_broker:
        folder = str(settings.broker_dir / "out")
        config["broker_transport_options"] = {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "processed_folder": str(settings.broker_dir / "processed"),
            # Exchange tables; kombu's default is ./control in the current directory.
            "control_folder": str(settings.broker_dir / "control"),
            "store_processed": False,
            # 0.1 s instead of 1 s: a queued job starts within a tenth of a second (STACK-NOTES: 102 ms).
            "polling_interval": 0.1,
        }
    else:
        config["broker_transport_options"] = {"visibility_timeout": 7 * 24 * 3600}
    return config


@lru_cache
def _client(broker_url: str, data_dir: str) -> Celery:
    # Keyed by the data dir too: the embedded broker's folder lives there.
    client = Celery("ftstudio-client")
    client.conf.update(celery_config(get_settings()))
    return client


def enqueue_job(job_id: int, queue: str) -> str:
    """Wakes a worker of `queue` for this job and returns the Celery task id. Call after the commit."""
    settings = get_settings()
    if not valid_queue_name(queue):
        raise ValueError(f"invalid queue name {queue!r}")
    if settings.embedded_broker:
        settings.ensure_dirs()
    result = _client(settings.broker_url, str(settings.resolved_data_dir)).send_task(
        RUN_JOB_TASK, args=[job_id], queue=queue
    )
    return str(result.id)
