"""Notifications: webhooks when a job succeeds, fails, is interrupted or is flagged for collapse.

Targets: the job's own ``webhook_url`` (POST /api/v1/jobs, kept in the job's config) and the global
``FTSTUDIO_WEBHOOK_URL``. The body is JSON; with ``FTSTUDIO_WEBHOOK_SECRET`` set it is signed like
GitHub's webhooks::

    X-FTStudio-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>
    X-FTStudio-Event: job.succeeded | job.failed | job.interrupted | job.collapse_flagged
    X-FTStudio-Delivery: <uuid, the same for every retry of one notification>

A receiver recomputes the HMAC over the exact bytes it received and compares in constant time
(``hmac.compare_digest``). A delivery that fails (connection error, timeout, any non-2xx) is retried with
exponential backoff (``webhook_backoff_seconds`` x 2^n, ``webhook_max_attempts`` in all); every attempt
becomes a ``webhook`` JobEvent on the job. Events show only the target's scheme and host (a Slack-style
URL carries its token in the path) and never the secret.

Deliveries run on a thread so a slow receiver never holds up the supervisor or the next job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.db import session_scope
from app.jobs.live import publish
from app.models import Job, JobEvent, JobStatus, utcnow
from app.settings import get_settings

log = logging.getLogger("ftstudio.notify")

SIGNATURE_HEADER = "X-FTStudio-Signature-256"
EVENT_HEADER = "X-FTStudio-Event"
DELIVERY_HEADER = "X-FTStudio-Delivery"
NOTIFIED_STATUSES = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.INTERRUPTED}
_threads: list[threading.Thread] = []


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def redact(url: str) -> str:
    """scheme://host[:port] only: paths, queries and user info may hold tokens."""
    parts = urlsplit(url)
    rest = "/…" if parts.path not in ("", "/") or parts.query else ""
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{rest}"


def job_reached_final_state(job_id: int, status: str) -> None:
    """The supervisor's one call when a job ends: wake its live watchers and send its webhooks.
    Never raises: the job's final state is already committed and must not be undone by a notification."""
    try:
        publish(job_id, "status")
        if status in NOTIFIED_STATUSES:
            notify(job_id, f"job.{status}")
    except Exception:
        log.exception("notifying the end of job %s failed", job_id)


def jobs_lost(job_ids: list[int]) -> None:
    """A sweep found these jobs' worker gone and marked them interrupted (re-queued or not): their
    watchers and webhooks hear it as from a supervisor that ended them. Called after the sweep commits."""
    for job_id in job_ids:
        job_reached_final_state(job_id, JobStatus.INTERRUPTED)


def collapse_flagged(job_id: int, flag: dict[str, Any]) -> None:
    """Called once the collapse event's row is committed (worker/event_sink.py)."""
    notify(job_id, "job.collapse_flagged", {"collapse": flag})


def notify(job_id: int, event: str, extra: dict[str, Any] | None = None, *, wait: bool = False) -> None:
    """Build the payload now (the job as it is at this moment), deliver on a thread."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            return
        targets = _targets(job)
        if not targets:
            return
        payload = {
            "event": event,
            "delivery_id": str(uuid.uuid4()),
            "sent_at": utcnow().isoformat(),
            "job": _job_summary(job),
            **(extra or {}),
        }
    body = json.dumps(payload, default=str, ensure_ascii=False).encode()
    for url in targets:
        thread = threading.Thread(
            target=deliver, args=(job_id, url, event, body, payload["delivery_id"]), name=f"webhook-{job_id}"
        )
        # Not a daemon: a worker stopping gracefully finishes its (bounded) deliveries first.
        thread.start()
        _threads.append(thread)
        if wait:
            thread.join()
    _threads[:] = [t for t in _threads if t.is_alive()]


def wait_for_deliveries(timeout: float | None = None) -> None:
    for thread in list(_threads):
        thread.join(timeout)


def _targets(job: Job) -> list[str]:
    urls = [(job.config or {}).get("webhook_url"), get_settings().webhook_url]
    return list(dict.fromkeys(u for u in urls if u))


def _job_summary(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "kind": job.kind,
        "status": job.status,
        "method": job.method,
        "base_model": job.base_model_id,
        "step": job.step,
        "total_steps": job.total_steps,
        "loss": job.loss,
        "error": (job.error or "")[:2000] or None,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "path": f"/jobs/{job.id}",
    }


def deliver(job_id: int, url: str, event: str, body: bytes, delivery_id: str) -> bool:
    """POST ``body`` to ``url`` until a 2xx or the attempts run out; one JobEvent per attempt."""
    settings = get_settings()
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "FTStudio-Webhook/1",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    attempts = settings.webhook_max_attempts
    for attempt in range(1, attempts + 1):
        status_code, error = None, None
        try:
            response = httpx.post(
                url, content=body, headers=headers, timeout=settings.webhook_timeout_seconds
            )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {str(exc).replace(url, redact(url))}"[:300]
        ok = error is None
        _record(job_id, event, url, attempt, attempts, status_code, error, delivery_id, signed=bool(secret))
        if ok:
            return True
        if attempt < attempts:
            time.sleep(settings.webhook_backoff_seconds * 2 ** (attempt - 1))
    log.warning("webhook %s for job %s gave up after %s attempts", event, job_id, attempts)
    return False


def _record(
    job_id: int,
    event: str,
    url: str,
    attempt: int,
    attempts: int,
    status_code: int | None,
    error: str | None,
    delivery_id: str,
    *,
    signed: bool,
) -> None:
    target = redact(url)
    if error is None:
        message = f"{event} → {target}: delivered (HTTP {status_code}), attempt {attempt}/{attempts}"
    else:
        final = " – giving up" if attempt == attempts else ", will retry"
        message = f"{event} → {target}: {error}, attempt {attempt}/{attempts}{final}"
    try:
        with session_scope() as session:
            session.add(
                JobEvent(
                    job_id=job_id,
                    kind="webhook",
                    message=message[:1000],
                    data={
                        "event": event,
                        "target": target,
                        "attempt": attempt,
                        "max_attempts": attempts,
                        "status_code": status_code,
                        "ok": error is None,
                        "error": error,
                        "delivery_id": delivery_id,
                        "signed": signed,
                    },
                    created_at=utcnow(),
                )
            )
    except Exception:  # the record is for people; a DB hiccup must not stop the delivery itself
        log.exception("could not record webhook attempt %s of job %s", attempt, job_id)
    publish(job_id, "event")
