"""Who is asking, and may they: the middleware stack every request of the studio goes through.

From the outside in: Host check (TrustedHostMiddleware; a DNS-rebinding page names its own host),
security headers, the signed session cookie (starlette's SessionMiddleware, itsdangerous), then
``authenticate``: a Bearer token or the session's user becomes ``request.state.principal``; without one,
the API answers 401 and pages redirect to /login. State-changing requests made with the session cookie
(not with a token, which a browser never sends by itself) must carry the session's CSRF token (header
``X-CSRF-Token``, which htmx sends from base.html, or a ``csrf_token`` form field) and a same-origin
Origin/Referer. Successful state changes are written to the audit log here, in one place.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from jinja2 import pass_context
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import HTTPConnection

from app.db import session_scope
from app.deps import Principal
from app.models import User, utcnow
from app.settings import Settings
from app.users.tokens import find_token

log = logging.getLogger("ftstudio.security")

SESSION_COOKIE = "ftstudio_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
PUBLIC_PATHS = {"/login", "/logout", "/auth/link", "/api/v1/health", "/openapi.json", "/docs", "/redoc"}
# /v1/ is the OpenAI-compatible API: it checks its own per-deployment keys (app/serving/service.py
# authorize), which are not user tokens, so this middleware must let them through to it.
PUBLIC_PREFIXES = ("/static/", "/docs/", "/v1/")
NO_PRINCIPAL_PATHS = {"/api/v1/health"}
NO_PRINCIPAL_PREFIXES = ("/static/",)
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]
# The pages' own scripts are files under /static; styles include htmx's indicator style and a few
# style attributes. No inline script, no eval: an injected <script> does not run.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'"
)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "::1", "[::1]"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: Settings) -> list[str]:
    if settings.allowed_hosts:
        return list(settings.allowed_hosts)
    if settings.host in ("0.0.0.0", "::", ""):
        # Bound to every address: the studio cannot know its public names. Sign-in is required on such a
        # bind, so a rebinding page gets no session; FTSTUDIO_ALLOWED_HOSTS narrows it (the CLI warns).
        return ["*"]
    return sorted({settings.host, *LOOPBACK_NAMES})


def cookie_secure(settings: Settings) -> bool:
    return settings.cookie_secure if settings.cookie_secure is not None else not is_loopback(settings.host)


def secret_key(settings: Settings) -> str:
    """FTSTUDIO_SECRET_KEY, or a random key kept (0600) in the data dir so every process of this studio
    signs cookies alike and restarts keep sessions."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.resolved_data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: of two processes starting together, one writes and both read the same key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return Path(path).read_text().strip()


# --- who is asking --------------------------------------------------------------------------------
def _principal(user: User) -> Principal:
    return Principal(user_id=user.id, role=user.role, name=user.name)


def principal_from_token(secret: str) -> Principal | None:
    with session_scope() as session:
        token = find_token(session, secret)
        if token is None:
            return None
        user = session.get(User, token.user_id)
        if user is None or user.disabled:
            return None
        # Coarse last-use time: one write per token per minute at most.
        now = utcnow()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            token.last_used_at = now
        return _principal(user)


def principal_from_session(user_id: int, signed_in_at: object) -> Principal | None:
    with session_scope() as session:
        user = session.get(User, user_id)
        if user is None or user.disabled:
            return None
        if user.sessions_valid_after is not None and (
            not isinstance(signed_in_at, int | float) or signed_in_at < user.sessions_valid_after.timestamp()
        ):
            return None  # signed out (or password changed) since this cookie was issued
        return _principal(user)


def ensure_csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _same_origin(request: Request) -> bool:
    """Origin (or, without it, Referer) must name this very host; a browser sets them on cross-site posts."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source is None  # non-browser clients send neither; "null" is an opaque (sandboxed) origin
    parts = urlsplit(source)
    return parts.netloc.lower() == (request.headers.get("host") or "").lower()


async def _submitted_csrf(request: Request) -> str | None:
    if header := request.headers.get(CSRF_HEADER):
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        body = await request.body()  # cached by BaseHTTPMiddleware for the endpoint
        if len(body) <= 1_000_000:
            values = parse_qs(body.decode("latin-1")).get(CSRF_FIELD)
            return values[0] if values else None
    return None


def _refuse(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = f"/login?next={quote(target, safe='')}"
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": location})
        return RedirectResponse(location, status_code=303)
    from app.views_common import render_error

    return render_error(request, message, status)


class AuthMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if path in NO_PRINCIPAL_PATHS or path.startswith(NO_PRINCIPAL_PREFIXES):
            # Liveness and static files use no principal: no database lookup, so they stay fast even when
            # every connection is busy (a token sent along is simply not looked at).
            return await call_next(request)
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        principal: Principal | None = None
        via = None
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            principal = await run_in_threadpool(principal_from_token, credential.strip())
            if principal is None and not public:
                return _refuse(request, 401, "The API token is invalid, expired or revoked.")
            via = "token"
        elif isinstance(user_id := request.session.get("user_id"), int):
            principal = await run_in_threadpool(principal_from_session, user_id, request.session.get("at"))
            if principal is None:
                request.session.clear()  # the user was disabled or removed: signed out everywhere
            via = "session"
        if principal is None and not public:
            return _refuse(
                request, 401, "Sign in first: send 'Authorization: Bearer <token>' (ftstudio users token)."
            )
        if request.method not in SAFE_METHODS and via != "token":
            expected = request.session.get("csrf")
            submitted = await _submitted_csrf(request)
            if (
                not _same_origin(request)
                or not expected
                or not submitted
                or not secrets.compare_digest(expected.encode(), submitted.encode("utf-8", "replace"))
            ):
                return _refuse(
                    request,
                    403,
                    "Refused: the request did not come from a page of this studio "
                    "(missing or wrong CSRF token). Reload the page and try again.",
                )
        request.state.principal = principal
        response = await call_next(request)
        if (
            principal is not None
            and request.method not in SAFE_METHODS
            and response.status_code < 400
            and "x-ftstudio-error" not in response.headers
        ):
            await run_in_threadpool(audit_request, request, principal, response.status_code)
        return response


class WebSocketAuth:
    """AuthMiddleware (a BaseHTTPMiddleware) sees HTTP requests only; a WebSocket (the playground's
    /api/v1/playground/ws) is signed in here the same way: a Bearer token, or the session cookie of a page
    of this very studio (browsers send cookies on cross-site WebSockets too, so the Origin must match).
    Without one the socket is refused before it opens."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        principal: Principal | None = None
        scheme, _, credential = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            principal = await run_in_threadpool(principal_from_token, credential.strip())
        elif isinstance(user_id := scope.get("session", {}).get("user_id"), int) and _same_origin(
            connection  # type: ignore[arg-type]
        ):
            signed_in_at = scope.get("session", {}).get("at")
            principal = await run_in_threadpool(principal_from_session, user_id, signed_in_at)
        if principal is None:
            await send({"type": "websocket.close", "code": 1008})
            return
        connection.state.principal = principal
        await self.app(scope, receive, send)


def audit_request(request: Request, principal: Principal, status: int) -> None:
    """One audit entry per successful state change (upload, launch, cancel, delete, export, ...): the route
    template names the action, the first path parameter the object."""
    from app.audit.service import record

    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    if template.startswith(
        ("/login", "/logout", "/auth/", "/api/v1/admin/users", "/admin/users", "/account", "/api/v1/account")
    ):
        return  # those routes write their own, more precise entries
    params = request.path_params
    parts = [p for p in template.split("/") if p and p not in ("api", "v1", "ui")]
    object_type = parts[0].rstrip("s") if parts else None
    object_id = next(iter(params.values()), None)
    verb = parts[-1] if parts and not parts[-1].startswith("{") and len(parts) > 1 else None
    action = verb or {"POST": "create", "DELETE": "delete", "PUT": "update", "PATCH": "update"}.get(
        request.method, request.method.lower()
    )
    with session_scope() as session:
        record(
            session,
            principal.user_id,
            f"{object_type}.{action}" if object_type else action,
            object_type,
            object_id,
            f"{request.method} {request.url.path} -> {status}",
            ip=client_ip(request),
            actor_name=principal.name,
        )


class SecurityHeadersMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        path = request.url.path
        if path in ("/docs", "/redoc") or path.startswith("/docs/"):
            # FastAPI's API docs page loads Swagger UI with an inline script; it still may not be framed.
            headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        else:
            headers.setdefault("Content-Security-Policy", PAGE_CSP)
        return response


@pass_context
def _csrf_global(context: dict) -> str:
    request = context.get("request")
    return ensure_csrf_token(request) if request is not None else ""


@pass_context
def _principal_global(context: dict) -> Principal | None:
    request = context.get("request")
    return getattr(request.state, "principal", None) if request is not None else None


def install(app: FastAPI, settings: Settings) -> None:
    """Adds the middleware; each add wraps the previous ones, so the Host check runs first."""
    from app.web_templates import templates

    templates.env.globals.update(csrf_token=_csrf_global, principal=_principal_global)
    app.add_middleware(AuthMiddleware)
    app.add_middleware(WebSocketAuth)  # inside the session middleware, which reads the cookie of sockets too
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(settings),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=cookie_secure(settings),
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings))
