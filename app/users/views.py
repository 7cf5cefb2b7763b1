"""Sign-in pages (/login, /logout, the one-time link), the user's own tokens (/account) and the admin's
users and audit pages (/admin/users, /admin/audit)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app.audit.service import recent, record
from app.deps import AdminUser, CurrentUser, SessionDep
from app.errors import StudioError
from app.models import TokenKind, User, utcnow
from app.users.security import client_ip, ensure_csrf_token
from app.users.service import QuotaUpdate, UserService
from app.users.tokens import find_token, revoke
from app.views_common import render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path of this studio: never another site (//evil.example, https://...)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _sign_in(request: Request, user: User) -> None:
    # A fresh session (and CSRF token) at sign-in: a session fixed before sign-in is worth nothing.
    request.session.clear()
    request.session["user_id"] = user.id
    request.session["at"] = time.time()  # compared with users.sessions_valid_after on every request
    ensure_csrf_token(request)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    ensure_csrf_token(request)
    return render(request, "users/login.html", next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request, session: SessionDep) -> Response:
    form = await request.form()
    name, password = str(form.get("name") or ""), str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or "/"))
    try:
        # argon2 takes a good fraction of a second on purpose: off the event loop.
        user = await run_in_threadpool(UserService(session).authenticate, name, password, client_ip(request))
    except StudioError as exc:
        ensure_csrf_token(request)
        return render(
            request,
            "users/login.html",
            http_status=exc.status_code,
            next=target,
            error=exc.message,
            user_name=name,
        )
    _sign_in(request, user)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    user_id = request.session.get("user_id")
    if isinstance(user_id, int):
        record(session, user_id, "logout", "user", user_id, ip=client_ip(request))
        if (user := session.get(User, user_id)) is not None:
            # Server-side sign-out: this cookie (and any copy of it) stops working, not just this browser's.
            user.sessions_valid_after = utcnow()
        session.commit()
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/auth/link")
def one_time_link(request: Request, session: SessionDep, token: str = "") -> Response:
    """The link `ftstudio up` prints on a loopback bind: signs this browser in as the local admin, once."""
    found = find_token(session, token, kind=TokenKind.SIGNIN)
    user = session.get(User, found.user_id) if found else None
    if found is None or user is None or user.disabled:
        ensure_csrf_token(request)
        message = (
            "This sign-in link was already used or has expired. Run `ftstudio users link` for a new one."
        )
        return render(request, "users/login.html", http_status=401, next="/", error=message)
    revoke(found)
    record(session, user.id, "login", "user", user.id, "one-time link", ip=client_ip(request))
    session.commit()
    _sign_in(request, user)
    return RedirectResponse("/", status_code=303)


# --- the user's own tokens --------------------------------------------------------------------------
def _account(request: Request, session: SessionDep, user_id: int, **extra: object) -> HTMLResponse:
    service = UserService(session)
    account = service.get(user_id)
    return render(request, "users/account.html", account=account, tokens=service.tokens(account), **extra)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return _account(request, session, user.user_id)


@router.post("/account/tokens", response_class=HTMLResponse)
async def account_create_token(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    form = await request.form()
    service = UserService(session)
    days = str(form.get("expires_in_days") or "").strip()
    try:
        expires = float(days) if days else None
        token, secret = service.create_token(
            service.get(user.user_id),
            name=str(form.get("name") or ""),
            expires_in_days=expires,
            actor_id=user.user_id,
        )
    except (StudioError, ValueError) as exc:
        message = exc.message if isinstance(exc, StudioError) else "expires_in_days must be a number of days."
        return _account(request, session, user.user_id, error=message)
    session.commit()
    return _account(request, session, user.user_id, new_secret=secret, new_name=token.name)


@router.post("/account/tokens/{token_id}/revoke", response_class=HTMLResponse)
def account_revoke_token(
    token_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> HTMLResponse:
    UserService(session).revoke_token(user.user_id, token_id, actor_id=user.user_id)
    session.commit()
    return _account(request, session, user.user_id)


# --- admin ------------------------------------------------------------------------------------------
def _users_page(request: Request, session: SessionDep, **extra: object) -> HTMLResponse:
    from app.users.quotas import storage_used

    service = UserService(session)
    users = service.list()
    usage = {u.id: storage_used(session, u.id) for u in users}
    tokens = {u.id: [t for t in service.tokens(u) if t.revoked_at is None] for u in users}
    return render(request, "users/admin_users.html", users=users, usage=usage, tokens=tokens, **extra)


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users_page(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    return _users_page(request, session)


def _optional_int(value: object, field: str) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise StudioError(f"{field} must be a whole number (empty: no limit).", field=field) from None


@router.post("/admin/users", response_class=HTMLResponse)
async def admin_create_user(request: Request, session: SessionDep, admin: AdminUser) -> HTMLResponse:
    form = await request.form()
    try:
        UserService(session).create(
            str(form.get("name") or ""),
            admin=form.get("role") == "admin",
            password=str(form.get("password")) if form.get("password") else None,
            actor_id=admin.user_id,
        )
    except StudioError as exc:
        session.rollback()
        return _users_page(request, session, error=exc.message)
    session.commit()
    return _users_page(request, session, message="User created.")


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
async def admin_update_user(
    user_id: int, request: Request, session: SessionDep, admin: AdminUser
) -> HTMLResponse:
    form = await request.form()
    service = UserService(session)
    user = service.get(user_id)
    try:
        if role := form.get("role"):
            service.set_role(user, str(role), actor_id=admin.user_id)
        if "disabled" in form:
            service.set_disabled(user, form.get("disabled") == "1", actor_id=admin.user_id)
        if "max_running_jobs" in form:
            quota = QuotaUpdate(
                max_running_jobs=_optional_int(form.get("max_running_jobs"), "max_running_jobs"),
                max_queued_jobs=_optional_int(form.get("max_queued_jobs"), "max_queued_jobs"),
                max_storage_bytes=_optional_int(form.get("max_storage_bytes"), "max_storage_bytes"),
            )
            service.set_quota(user, quota, actor_id=admin.user_id)
    except StudioError as exc:
        session.rollback()
        return _users_page(request, session, error=exc.message)
    session.commit()
    return _users_page(request, session, message=f"Saved {user.name}.")


@router.post("/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
def admin_revoke_token(
    token_id: int, request: Request, session: SessionDep, admin: AdminUser
) -> HTMLResponse:
    UserService(session).revoke_token(None, token_id, actor_id=admin.user_id)
    session.commit()
    return _users_page(request, session, message="Token revoked.")


@router.get("/admin/audit", response_class=HTMLResponse)
def admin_audit_page(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    actor: str | None = None,
    action: str | None = None,
) -> HTMLResponse:
    entries = recent(session, limit=500, actor=actor or None, action=action or None)
    return render(request, "users/audit.html", entries=entries, actor=actor or "", action=action or "")
