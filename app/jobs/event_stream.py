"""Server-sent events for one job. Rows are always read from the database (the one source of truth);
what changes between modes is only what wakes the stream up for the next read:

- real mode: a Redis pub/sub message on ``ftstudio:job:{id}`` (app/jobs/live.py), published by the worker
  right after it commits new rows, received by the process' one subscription (app/jobs/live_hub.py, which
  also lets streams woken by the same message share one read); a slow safety read covers changes nobody
  published (a cancel, a reaped worker) and lost messages;
- embedded mode, or Redis down: a database read once a second; with SQLite instead as soon as the
  database file or its write-ahead log changes (a stat every 100 ms, no connection, no query) and every
  5 s otherwise, so a metric the worker commits shows at once and an idle page costs no reads.

No database connection is held while the stream waits: each read opens a short session, in a worker
thread, and closes it (200 open job pages must not pin 200 pooled connections).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from app.db import session_factory
from app.jobs.live_hub import Hub, hub_for, now, shared_reads
from app.jobs.progress import build_job_read
from app.jobs.repository import JobRepository
from app.jobs.schemas import JobEventRead, MetricRead
from app.models import JobStatus
from app.settings import get_settings


def _sqlite_files() -> list[Path]:
    url = get_settings().sqlalchemy_url
    if not url.startswith("sqlite:///"):
        return []
    db = Path(url.removeprefix("sqlite:///"))
    return [db, db.with_name(db.name + "-wal")]


def _signature(files: list[Path]) -> tuple[tuple[int, int], ...]:
    out = []
    for path in files:
        try:
            st = path.stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((0, 0))
    return tuple(out)


log = logging.getLogger("ftstudio.live")

POLL_SECONDS = 1.0
# SQLite: how often the stream stats the database files for a commit it should read.
FILE_CHECK_SECONDS = 0.1
SETTLE_SECONDS = 0.03
# With pub/sub, a read this often even without a message: status changes nobody publishes still show.
SAFETY_READ_SECONDS = 5.0
# A comment line now and then keeps proxies from closing an idle stream and reveals a gone client.
KEEPALIVE_SECONDS = 15.0


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


@dataclass
class Snapshot:
    job_json: str | None
    final: bool = False
    metrics: list[MetricRead] = field(default_factory=list)
    events: list[JobEventRead] = field(default_factory=list)


def _snapshot(job_id: int, owner_id: int | None, after_metric: int, after_event: int) -> Snapshot:
    """One short read: the session (and its pooled connection) is closed before this returns."""
    with session_factory()() as session:
        repo = JobRepository(session)
        job = repo.get(job_id, owner_id)
        if job is None:
            return Snapshot(job_json=None, final=True)
        return Snapshot(
            job_json=build_job_read(job).model_dump_json(),
            final=JobStatus(job.status).is_final,
            metrics=[MetricRead.model_validate(m) for m in repo.metrics(job_id, after_id=after_metric)],
            events=[JobEventRead.model_validate(e) for e in repo.events(job_id, after_id=after_event)],
        )


class Waker:
    """Waits for the next reason to read: a message for this job through the process' pub/sub hub
    (app/jobs/live_hub.py), or the fallback interval. ``not_before`` is what a shared read must cover."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.url = get_settings().redis_url
        self.hub: Hub | None = None
        self.event: asyncio.Event | None = None
        self.not_before = 0.0
        self.files = _sqlite_files()
        self.file_signature = _signature(self.files)
        self.counts = {"pubsub": 0, "timeout": 0, "poll": 0}

    @property
    def mode(self) -> str:
        return "pubsub" if self.hub is not None and self.hub.ready and self.event is not None else "poll"

    async def open(self) -> None:
        if not self.url:
            return
        self.hub = hub_for(self.url)
        if await self.hub.ensure() and self.event is None:
            self.event = self.hub.register(self.job_id)

    async def wait(self) -> None:
        if self.mode != "pubsub":
            await self.open()  # Redis may be back
        if self.mode != "pubsub":
            self.counts["poll"] += 1
            await self._poll()
            self.not_before = now()
            return
        assert self.event is not None and self.hub is not None
        try:
            await asyncio.wait_for(self.event.wait(), SAFETY_READ_SECONDS)
            self.counts["pubsub" if self.hub.ready else "poll"] += 1
            # Messages of one burst of rows: the read below covers them all. Cleared before the read, so a
            # message arriving during the read wakes the next wait at once.
            self.event.clear()
            self.not_before = self.hub.received.get(self.job_id, 0.0)
        except TimeoutError:
            self.counts["timeout"] += 1
            self.not_before = now()

    async def _poll(self) -> None:
        if not self.files:
            await asyncio.sleep(POLL_SECONDS)
            return
        # Every commit changes the files, so an unchanged pair needs only the slow safety read.
        deadline = time.monotonic() + SAFETY_READ_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(FILE_CHECK_SECONDS)
            signature = _signature(self.files)
            if signature != self.file_signature:
                # A transaction's pages reach the log before its commit record: let it finish, so this
                # read sees the commit rather than missing it until the next second.
                await asyncio.sleep(SETTLE_SECONDS)
                self.file_signature = _signature(self.files)
                return
        self.file_signature = _signature(self.files)

    async def close(self) -> None:
        if self.hub is not None and self.event is not None:
            self.hub.unregister(self.job_id, self.event)
        self.event = None


async def job_event_stream(job_id: int, owner_id: int | None, request: Request) -> AsyncIterator[str]:
    """Events: ``progress`` (the job as JobRead), ``metric`` (new metric rows), ``job_event`` (new event
    rows: quick evals, collapse flags, webhook attempts), ``end`` once the job is final."""
    waker = Waker(job_id)
    # Subscribe before the first read: a row committed between the read and the subscription still wakes us.
    await waker.open()
    waker.not_before = now()  # the first read must start after the subscription, not join an older one
    last_metric, last_event, last_job_json = 0, 0, None
    last_sent = time.monotonic()
    try:
        yield _sse("stream", {"wake": waker.mode})
        while True:
            key = (job_id, owner_id, last_metric, last_event)
            snap = await shared_reads.read(
                key, waker.not_before, lambda key=key: asyncio.to_thread(_snapshot, *key)
            )
            if snap.job_json is None:
                yield _sse("end", {"reason": "not found"})
                return
            for metric in snap.metrics:
                last_metric = metric.id
                yield _sse("metric", metric.model_dump())
            for event in snap.events:
                last_event = event.id
                yield _sse("job_event", event.model_dump())
            if snap.job_json != last_job_json:
                last_job_json = snap.job_json
                last_sent = time.monotonic()
                yield f"event: progress\ndata: {snap.job_json}\n\n"
            if snap.final:
                status = json.loads(snap.job_json)["status"]
                yield _sse("end", {"status": status, "wakeups": waker.counts})
                return
            if await request.is_disconnected():
                return
            if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            await waker.wait()
    finally:
        await waker.close()
