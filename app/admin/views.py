"""The admin page `/admin`: workers and devices, running jobs, the queue in order, and the controls.
The live part re-renders every few seconds with htmx; each control answers the re-rendered part."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.admin.service import AdminService
from app.deps import AdminUser, SessionDep
from app.errors import NotFound
from app.views_common import is_htmx, render

router = APIRouter(include_in_schema=False)


def _context(session: SessionDep) -> dict[str, object]:
    service = AdminService(session)
    return {"workers": service.workers(), "running": service.running(), "queue": service.queue()}


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, session: SessionDep, _admin: AdminUser) -> HTMLResponse:
    return render(request, "admin/index.html", **_context(session))


@router.get("/admin/live", response_class=HTMLResponse)
def admin_live(request: Request, session: SessionDep, _admin: AdminUser) -> HTMLResponse:
    return render(request, "admin/_live.html", **_context(session))


def _after(request: Request, session: SessionDep) -> Response:
    if is_htmx(request):
        return render(request, "admin/_live.html", **_context(session))
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/ui/workers/{worker_id}/{action}")
def worker_action(
    worker_id: str, action: str, request: Request, session: SessionDep, _admin: AdminUser
) -> Response:
    if action not in ("drain", "undrain"):
        raise NotFound(f"Unknown worker action '{action[:40]}': drain or undrain.")
    AdminService(session).set_draining(worker_id, action == "drain")
    return _after(request, session)


@router.post("/admin/ui/jobs/{job_id}/{action}")
def job_action(
    job_id: int,
    action: str,
    request: Request,
    session: SessionDep,
    _admin: AdminUser,
    priority: Annotated[int | None, Form()] = None,
) -> Response:
    service = AdminService(session)
    if action == "top":
        service.top(job_id)
    elif action == "requeue":
        service.requeue(job_id)
    elif action == "cancel":
        service.cancel(job_id)
    elif action == "priority" and priority is not None:
        service.set_priority(job_id, max(-1_000_000, min(1_000_000, priority)))
    else:
        raise NotFound(f"Unknown job action '{action[:40]}': top, requeue, cancel or priority (a number).")
    return _after(request, session)
