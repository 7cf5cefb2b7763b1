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
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sqlalchemy.exc import TimeoutError as PoolTimeout

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("ftstudio.web")

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


class PoolTimeoutAnswer:
    """Every database connection busy (sqlalchemy's pool TimeoutError) is a 503 + Retry-After, wherever the
    request met it. The app's exception handler only sees errors raised in routes; the sign-in lookup
    (app/users/security.AuthMiddleware) and the audit entry run in middleware outside it, where the error
    would otherwise become a 500. Added outermost; anything else passes through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except PoolTimeout:
            if started:  # part of an answer is out: nothing else can be said
                raise
            log.warning("database pool exhausted on %s", scope.get("path"))
            await _busy(send)


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
