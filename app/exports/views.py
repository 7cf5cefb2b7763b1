"""Job-page actions: resume from a chosen checkpoint, export (mode/dtype), the list of a job's exports with
their download buttons. Fragments for htmx; a started job is opened with HX-Redirect."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.deps import CurrentUser, SessionDep
from app.errors import StudioError
from app.exports.schemas import EXPORT_MODES, ExportRequest, default_mode
from app.exports.service import ExportService
from app.jobs.form import template_globals
from app.jobs.schemas import ResumeRequest
from app.jobs.service import JobService
from app.views_common import render
from app.web_templates import templates

router = APIRouter(include_in_schema=False)


def export_modes(method: str | None) -> tuple[str, ...]:
    """Modes the export form offers for a train job's method, the default first."""
    return EXPORT_MODES.get(method or "", ())


# jobs/_more_actions.html is included by the lead's _summary.html with only `job` in its context; the
# modes a method can export come from here, so the template and the API never disagree.
templates.env.globals.setdefault("export_modes", export_modes)
templates.env.globals.setdefault("default_export_mode", default_mode)
for _name, _value in template_globals().items():
    templates.env.globals.setdefault(_name, _value)


def _optional_int(raw: str | None, field: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise StudioError(f"{field}: '{raw}' is not a whole number.", field=field) from None


def _validation_message(exc: ValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    return (f"{field}: {first['msg']}" if field else first["msg"]), field


async def _form(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.form()).items()}


@router.post("/ui/jobs/{job_id}/export", response_class=HTMLResponse)
async def export_from_page(
    job_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    form = await _form(request)
    try:
        body = ExportRequest(
            mode=form.get("mode") or None,
            dtype=form.get("dtype") or "fp32",
            checkpoint_step=_optional_int(form.get("checkpoint_step"), "checkpoint_step"),
            name=(form.get("name") or "").strip() or None,
        )
        job = ExportService(session).create(user.scope_owner_id, job_id, body)
    except StudioError as exc:
        return render(request, "_error.html", message=exc.message, field=exc.field)
    except ValidationError as exc:
        message, field = _validation_message(exc)
        return render(request, "_error.html", message=message, field=field)
    return Response(status_code=204, headers={"HX-Redirect": f"/jobs/{job.id}"})


@router.post("/ui/jobs/{job_id}/resume", response_class=HTMLResponse)
async def resume_from_page(
    job_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    form = await _form(request)
    try:
        body = ResumeRequest(
            checkpoint_step=_optional_int(form.get("checkpoint_step"), "checkpoint_step"),
            max_steps=_optional_int(form.get("max_steps"), "max_steps"),
        )
        job = JobService(session).resume(job_id, user.scope_owner_id, body)
    except StudioError as exc:
        return render(request, "_error.html", message=exc.message, field=exc.field)
    except ValidationError as exc:
        message, field = _validation_message(exc)
        return render(request, "_error.html", message=message, field=field)
    return Response(status_code=204, headers={"HX-Redirect": f"/jobs/{job.id}"})


@router.get("/ui/jobs/{job_id}/exports", response_class=HTMLResponse)
def exports_of_job(
    job_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> HTMLResponse:
    exports = ExportService(session).list_for_job(user.scope_owner_id, job_id)
    return render(request, "exports/_list.html", exports=exports, train_job_id=job_id)
