"""The Celery application of the worker. Start it with `ftstudio worker` (one job at a time per GPU)."""

from __future__ import annotations

import logging

from celery import Celery, signals

from app.queue import RUN_JOB_TASK, celery_config
from app.settings import get_settings

log = logging.getLogger("ftstudio.worker")

settings = get_settings()
settings.ensure_dirs()
celery = Celery("ftstudio")
celery.conf.update(celery_config(settings))
celery.conf.update(include=["worker.tasks.run_job"])

_state: dict[str, object] = {}


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _mask_secrets_in_logs(logger=None, **_: object) -> None:  # type: ignore[no-untyped-def]
    # Broker and database URLs may carry passwords; no log line of the worker shows them.
    from app.secrets import install_log_filter

    install_log_filter(*([logger] if logger is not None else []))


@signals.worker_ready.connect
def _on_ready(sender=None, **_: object) -> None:  # type: ignore[no-untyped-def]
    from worker.registry import Heartbeat, register

    queues = sorted(q.name for q in sender.app.amqp.queues.consume_from.values()) if sender else []
    worker_id = register(queues)
    heartbeat = Heartbeat(worker_id)
    heartbeat.start()
    _state.update(worker_id=worker_id, heartbeat=heartbeat)
    from worker.serving.manager import ServingManager  # deployments run beside the job slot

    serving = ServingManager(worker_id, queues)
    serving.start()
    _state["serving"] = serving
    log.info("worker %s registered for queues %s", worker_id, queues)


@signals.worker_shutting_down.connect
def _on_shutting_down(**_: object) -> None:
    # Runs in the signal handler: only set a flag; the supervisor's loop stops the child at a checkpoint.
    from worker.supervisor import shutdown_requested

    shutdown_requested.set()


@signals.worker_shutdown.connect
def _on_shutdown(**_: object) -> None:
    from worker.registry import mark_offline

    heartbeat = _state.get("heartbeat")
    if heartbeat is not None:
        heartbeat.stopped.set()  # type: ignore[attr-defined]
    serving = _state.get("serving")
    if serving is not None:
        serving.shutdown()  # type: ignore[attr-defined]
    if worker_id := _state.get("worker_id"):
        mark_offline(str(worker_id))


__all__ = ["RUN_JOB_TASK", "celery"]
