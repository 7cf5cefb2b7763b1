"""Admission control of the web process: at most N requests inside the app at once, the rest wait a little
and are then answered 503 with Retry-After. An overloaded studio says so quickly and never hangs.

Why: FastAPI runs sync routes and their response serialization on anyio's 40 threads, and a request's
session holds its database connection from its first query until the response is sent. With 200 requests
in flight, finished routes waited behind new ones for a thread to serialize their answer, holding their
connections meanwhile; the pool ran dry and requests failed after 30 s (issue 9: 117 x 500, 68 time-outs).
With fewer requests inside than threads and connections, neither pool can run dry. The slot is released
when the response starts, so a server-sent-event stream or a download does not keep one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Answered without a slot: liveness must stay fast under load; static files touch no database.
EXEMPT_PREFIXES = ("/static/", "/api/v1/health")


class AdmissionLimit:
    def __init__(self, app: ASGIApp, *, limit: int, wait_seconds: float) -> None:
        self.app = app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        slots = self._slots
        try:
            await asyncio.wait_for(slots.acquire(), self.wait_seconds)
        except TimeoutError:
            await _busy(send)
            return
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                slots.release()

        async def send_and_release(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            release()


async def _busy(send: Send) -> None:
    body = json.dumps({"detail": "The studio is busy; try again in a few seconds."}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", b"2"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
