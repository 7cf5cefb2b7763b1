"""Workers register themselves in the database when they start and keep a heartbeat while they live,
so the admin view (and the reaper of lost jobs) knows who is there."""

from __future__ import annotations

import logging
import os
import socket
import threading

from app.db import session_scope
from app.jobs.service import JobService
from app.models import WorkerNode, utcnow
from app.settings import get_settings

log = logging.getLogger("ftstudio.worker")


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def describe_accelerators() -> dict[str, object]:
    """What this worker can run on, without importing torch in the worker's main process."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return {"cuda_visible_devices": visible, "cpu_count": os.cpu_count()}


def register(queues: list[str]) -> str:
    worker_id = worker_identity()
    now = utcnow()
    with session_scope() as session:
        node = session.get(WorkerNode, worker_id) or WorkerNode(id=worker_id, started_at=now)
        node.hostname, node.pid, node.queues = socket.gethostname(), os.getpid(), queues
        node.accelerators, node.status, node.last_seen_at = describe_accelerators(), "online", now
        session.merge(node)
    return worker_id


def mark_offline(worker_id: str) -> None:
    with session_scope() as session:
        node = session.get(WorkerNode, worker_id)
        if node is not None:
            node.status, node.last_seen_at = "offline", utcnow()


class Heartbeat(threading.Thread):
    """Refreshes this worker's row and marks other workers' stale running jobs interrupted."""

    def __init__(self, worker_id: str) -> None:
        super().__init__(name="ftstudio-heartbeat", daemon=True)
        self.worker_id = worker_id
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = get_settings().heartbeat_interval_seconds
        while not self.stopped.wait(interval):
            try:
                with session_scope() as session:
                    node = session.get(WorkerNode, self.worker_id)
                    if node is not None:
                        node.last_seen_at = utcnow()
                    reaped = JobService(session).reap_stale()
                if reaped:
                    log.warning("marked %d job(s) with a stale heartbeat as interrupted", reaped)
            except Exception:  # the database may blink; the next beat tries again
                log.exception("heartbeat failed")
