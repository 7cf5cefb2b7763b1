"""One Redis pub/sub subscription per web process (per event loop) for every open job stream, and reads
shared between streams woken by the same message.

Why: a subscription per stream meant a Redis connection per open job page, and 200 pages watching one
job woke together and ran 200 identical database reads. Here one pattern subscription
(``ftstudio:job:*``) wakes the streams of the job named in each message, and streams whose wake-up the same
in-flight read already covers (the read started after the hub received their message) share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from app.jobs.live import CHANNEL_PREFIX

log = logging.getLogger("ftstudio.live")

T = TypeVar("T")
# After Redis failed, streams poll the database this long before the hub tries to subscribe again.
RESUBSCRIBE_SECONDS = 10.0
_CONNECT_WAIT_SECONDS = 2.0


class Hub:
    def __init__(self, url: str) -> None:
        self.url = url
        self.ready = False
        self.waiters: dict[int, set[asyncio.Event]] = {}
        # When the hub last received a message for a job (loop time): reads started later include its rows.
        self.received: dict[int, float] = {}
        self.retry_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._started: asyncio.Event | None = None

    async def ensure(self) -> bool:
        """Subscribed (or just subscribed) -> True; Redis down -> False, and the caller polls."""
        if self.ready:
            return True
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            if loop.time() < self.retry_at:
                return False
            self._started = asyncio.Event()
            self._task = loop.create_task(self._run(), name="ftstudio-live-hub")
        assert self._started is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._started.wait()), _CONNECT_WAIT_SECONDS)
        return self.ready

    def register(self, job_id: int) -> asyncio.Event:
        event = asyncio.Event()
        self.waiters.setdefault(job_id, set()).add(event)
        return event

    def unregister(self, job_id: int, event: asyncio.Event) -> None:
        waiters = self.waiters.get(job_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                self.waiters.pop(job_id, None)
                self.received.pop(job_id, None)

    async def _run(self) -> None:
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        client: Any = None
        pubsub: Any = None
        try:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
            self.ready = True
            assert self._started is not None
            self._started.set()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
                if not message or message.get("type") != "pmessage":
                    continue
                name = message["channel"]
                name = name.decode() if isinstance(name, bytes) else str(name)
                suffix = name.removeprefix(CHANNEL_PREFIX)
                if not suffix.isdigit():
                    continue
                job_id = int(suffix)
                if job_id in self.waiters:
                    self.received[job_id] = loop.time()
                    for event in self.waiters[job_id]:
                        event.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis down or gone: every stream falls back to polling
            log.warning("live updates fall back to polling the database: %s", exc)
        finally:
            self.ready = False
            self.retry_at = loop.time() + RESUBSCRIBE_SECONDS
            if self._started is not None:
                self._started.set()
            for waiters in self.waiters.values():
                for event in waiters:
                    event.set()  # let each stream notice the hub is down
            for closer in (getattr(pubsub, "aclose", None), getattr(client, "aclose", None)):
                if closer is not None:
                    with contextlib.suppress(Exception):
                        await closer()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Hub]] = weakref.WeakKeyDictionary()


def hub_for(url: str) -> Hub:
    per_loop = _hubs.setdefault(asyncio.get_running_loop(), {})
    if url not in per_loop:
        per_loop[url] = Hub(url)
    return per_loop[url]


class SharedReads:
    """Identical reads (same key) share one in-flight call when it started no earlier than the caller
    needs (``not_before``, loop time): a read that began before a commit was announced cannot show it."""

    def __init__(self) -> None:
        self._inflight: dict[Any, tuple[float, asyncio.Future[Any]]] = {}

    async def read(self, key: Any, not_before: float, call: Callable[[], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        entry = self._inflight.get(key)
        if entry is None or entry[0] < not_before or entry[1].get_loop() is not loop:
            future: asyncio.Future[Any] = asyncio.ensure_future(call())
            entry = (loop.time(), future)
            self._inflight[key] = entry

            def forget(done: asyncio.Future[Any], key: Any = key) -> None:
                if self._inflight.get(key, (0, None))[1] is done:
                    self._inflight.pop(key, None)

            future.add_done_callback(forget)
        # shield: a stream whose client left must not cancel the read the other streams wait for.
        return await asyncio.shield(entry[1])


shared_reads = SharedReads()


def now() -> float:
    return asyncio.get_running_loop().time()
