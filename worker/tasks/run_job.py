"""The one task: a job id in, the job's row updated. Everything else lives in the supervisor."""

from __future__ import annotations

from worker.celery_app import _state, celery
from worker.supervisor import run_job


@celery.task(name="ftstudio.run_job", ignore_result=True)
def run_job_task(job_id: int) -> str:
    worker_id = _state.get("worker_id")
    return run_job(job_id, worker_id=str(worker_id) if worker_id else None)
