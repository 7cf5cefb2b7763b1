"""Sends jobs to the workers. The web process only needs a Celery *client*: tasks are sent by name,
so it imports nothing of worker/ (and so nothing of torch)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery

from app.broker_fs import register as register_embedded_broker
from app.settings import Settings, get_settings

register_embedded_broker()

RUN_JOB_TASK = "ftstudio.run_job"


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
    """Puts a job id on its queue and returns the Celery task id. Call after the job row is committed."""
    settings = get_settings()
    if settings.embedded_broker:
        settings.ensure_dirs()
    result = _client(settings.broker_url, str(settings.resolved_data_dir)).send_task(
        RUN_JOB_TASK, args=[job_id], queue=queue
    )
    return str(result.id)
