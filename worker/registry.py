"""Workers register themselves in the database when they start and keep a heartbeat while they live, so
the admin view and the queue know who is there and what each can run.

Each beat also sweeps: workers that missed the heartbeat window go offline, their running jobs become
`interrupted` and are queued again (app/jobs/scheduling.py), and an idle worker re-sends a wake-up for
queued jobs it could run (a message consumed by a worker that died before starting the job is lost, the
job is not)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from typing import Any

from sqlalchemy import update

from app.db import session_scope
from app.jobs.scheduling import eligible_queued_exists, queued_keys, reap_lost_jobs, wake
from app.models import WorkerNode, utcnow
from app.settings import get_settings
from worker.notify import jobs_lost

log = logging.getLogger("ftstudio.worker")


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _gpu_devices() -> list[dict[str, Any]]:
    """NVML through nvidia-ml-py; an empty list without the library, the driver or a GPU."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # pynvml.NVMLError: no driver on this machine
        return []
    devices = []
    try:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        indices = range(pynvml.nvmlDeviceGetCount())
        if visible is not None:
            wanted = [v.strip() for v in visible.split(",") if v.strip().isdigit()]
            indices = [int(v) for v in wanted if int(v) < pynvml.nvmlDeviceGetCount()]
        for index in indices:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            try:
                utilization = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
            except Exception:
                utilization = None
            devices.append(
                {
                    "kind": "gpu",
                    "index": index,
                    "name": name.decode() if isinstance(name, bytes) else str(name),
                    "memory_total_bytes": int(memory.total),
                    "memory_free_bytes": int(memory.free),
                    "utilization_percent": utilization,
                }
            )
    except Exception:
        log.exception("reading the GPUs through NVML failed")
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return devices


def _cpu_device() -> dict[str, Any]:
    import psutil

    memory = psutil.virtual_memory()
    return {
        "kind": "cpu",
        "cores": os.cpu_count() or 1,
        "memory_total_bytes": int(memory.total),
        "memory_available_bytes": int(memory.available),
        "utilization_percent": psutil.cpu_percent(interval=None),
    }


def describe_devices() -> list[dict[str, Any]]:
    """What this worker can run on: its GPUs, or the CPU (cores and RAM) when it has none."""
    return _gpu_devices() or [_cpu_device()]


def describe_accelerators() -> dict[str, object]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return {"cuda_visible_devices": visible, "cpu_count": os.cpu_count()}


def register(queues: list[str]) -> str:
    worker_id = worker_identity()
    now = utcnow()
    with session_scope() as session:
        node = session.get(WorkerNode, worker_id) or WorkerNode(id=worker_id, started_at=now)
        node.hostname, node.pid, node.queues = socket.gethostname(), os.getpid(), queues
        node.accelerators, node.status, node.last_seen_at = describe_accelerators(), "online", now
        node.devices, node.draining, node.current_job_id = describe_devices(), False, None
        session.merge(node)
    return worker_id


def mark_offline(worker_id: str) -> None:
    with session_scope() as session:
        node = session.get(WorkerNode, worker_id)
        if node is not None:
            node.status, node.last_seen_at, node.current_job_id = "offline", utcnow(), None


def sweep(worker_id: str | None = None) -> int:
    """One pass of the lost-job sweep (any process may run it: workers each beat, `ftstudio up` too).
    Returns how many jobs were queued again."""
    with session_scope() as session:
        reaped = reap_lost_jobs(session)
    wake(reaped.requeued)
    jobs_lost(reaped.lost_ids)
    if worker_id is not None:
        with session_scope() as session:
            node = session.get(WorkerNode, worker_id)
            idle = node is not None and node.current_job_id is None
            if idle and eligible_queued_exists(session, node):
                # Nobody took it (its wake-up went to a worker that died, or the broker lost it): wake again.
                wake(queued_keys(session, node.queues or [])[:1])
    return len(reaped.requeued)


class Heartbeat(threading.Thread):
    """Refreshes this worker's row (last seen, devices) and sweeps for lost jobs."""

    def __init__(self, worker_id: str) -> None:
        super().__init__(name="ftstudio-heartbeat", daemon=True)
        self.worker_id = worker_id
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = get_settings().heartbeat_interval_seconds
        beats = 0
        while not self.stopped.wait(interval):
            beats += 1
            try:
                values: dict[str, Any] = {"last_seen_at": utcnow(), "status": "online"}
                if beats % 5 == 1:  # NVML and psutil are cheap, but not every second
                    values["devices"] = describe_devices()
                with session_scope() as session:
                    session.execute(
                        update(WorkerNode).where(WorkerNode.id == self.worker_id).values(**values)
                    )
                requeued = sweep(self.worker_id)
                if requeued:
                    log.warning("queued again %d job(s) whose worker was lost", requeued)
            except Exception:  # the database may blink; the next beat tries again
                log.exception("heartbeat failed")
