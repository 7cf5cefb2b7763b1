"""Refusing oversized request bodies while they stream in, before anything is spooled whole.

An upload's Content-Length is checked first (413 without reading a byte); without one (chunked), the
bytes are counted as they arrive and the request is stopped as soon as it passes the limit, so a 1 GiB
upload never reaches a temporary file. Starlette spools the parts it did read into anonymous temporary
files, which vanish with the request.
"""

from __future__ import annotations

import html
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import TooLarge

FORM_OVERHEAD = 1024 * 1024  # multipart boundaries and the small form fields beside the file
JSON_LIMIT = 16 * 1024 * 1024  # every non-upload body (JSON, forms): generous, and bounded


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, scope: Scope) -> tuple[int, str]:
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").lower()
        if content_type.startswith(b"multipart/form-data"):
            message = (
                f"The file is larger than the upload limit of {self.max_upload_bytes:,} bytes "
                "(FTSTUDIO_MAX_UPLOAD_BYTES)."
            )
            return self.max_upload_bytes + FORM_OVERHEAD, message
        return JSON_LIMIT, f"The request body is larger than the limit of {JSON_LIMIT:,} bytes."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, message = self._limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False  # the server rejects a malformed Content-Length itself
            if too_large:
                await _refuse(scope, send, message)
                return
        api = str(scope.get("path", "")).startswith("/api/")
        received = 0

        async def counted() -> Message:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > limit:
                    if api:  # FastAPI re-raises an HTTPException from its body reader: a 413, not a 400
                        raise HTTPException(status_code=413, detail=message)
                    raise TooLarge(message, field="file")  # pages read their form themselves: an error page

            return event

        await self.app(scope, counted, send)


async def _refuse(scope: Scope, send: Send, message: str) -> None:
    headers = dict(scope.get("headers") or [])
    status, content_type = 413, b"application/json"
    body = json.dumps({"detail": message, "field": "file"}).encode()
    if not str(scope.get("path", "")).startswith("/api/"):
        # A page's form: an alert htmx can swap in (it swaps 2xx only), a plain 413 page otherwise.
        status = 200 if headers.get(b"hx-request") == b"true" else 413
        content_type = b"text/html; charset=utf-8"
        body = f'<div class="alert alert-error" role="alert">{html.escape(message)}</div>'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],  # fmt: skip
        }
    )
    await send({"type": "http.response.body", "body": body})
