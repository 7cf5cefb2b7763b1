"""The "generate data" page (/datasets/synthesize) and its htmx fragments: preview, save a template,
start a run, follow its progress, cancel and resume. Registered before the dataset pages, whose
/datasets/{dataset_id} would otherwise take /datasets/synthesize."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from app.datasets.service import DatasetService
from app.deps import CurrentUser, SessionDep
from app.errors import InvalidInput, StudioError
from app.jobs.service import JobService
from app.models import DeploymentStatus, JobStatus
from app.serving.service import DeploymentService
from app.synthesis.prompts import DEFAULT_TEMPLATE, PARTS
from app.synthesis.repository import SynthesisRepository
from app.synthesis.schemas import PreviewRequest, ResumeSynthesis, SynthesizeRequest, TemplateFields
from app.synthesis.service import SynthesisService
from app.views_common import render

router = APIRouter(include_in_schema=False)

NUMBERS = ("rows", "turns", "temperature", "max_tokens", "rate_limit_per_minute", "price_per_1k_tokens",
           "near_dup_threshold", "val_set_size", "seed_dataset_id", "seed_version", "seed_limit",
           "template_id", "secret_id", "dataset_id", "deployment_id")  # fmt: skip
TEXTS = ("name", "base_url", "api_key", "model", "seed_mode", "json_mode", "dedup")


def _variables(text: str) -> dict[str, str]:
    """`name = value` lines of the variables box."""
    values = {}
    for line in text.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            if key.strip():
                values[key.strip()] = value.strip()
    return values


def _template(form: Any) -> dict[str, Any] | None:
    if not str(form.get("prompt") or "").strip():
        return None
    fields = {part: str(form.get(part) or "") for part in PARTS}
    return {**fields, "name": str(form.get("template_name") or "untitled").strip() or "untitled",
            "prompt": str(form.get("prompt")), "variables": _variables(str(form.get("variables") or "")),
            "multi_turn": int(form.get("turns") or 1) > 1}  # fmt: skip


def parse_form(form: Any, model: type[SynthesizeRequest] = SynthesizeRequest) -> Any:
    values: dict[str, Any] = {k: str(form.get(k)).strip() for k in (*TEXTS, *NUMBERS) if form.get(k)}
    values["topics"] = [t for t in re.split(r"[\n,，]", str(form.get("topics") or "")) if t.strip()]
    template = _template(form)
    if template is not None and "template_id" not in values:
        values["template"] = template
    try:
        return model(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(
            f"{field}: {str(first['msg']).removeprefix('Value error, ')}", field=field
        ) from exc


def _page_context(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    repo = SynthesisRepository(session)
    return {
        "templates": repo.templates(user.scope_owner_id),
        "secrets": repo.secrets(user.scope_owner_id),
        "datasets": DatasetService(session).list(user.user_id),
        "runs": SynthesisService(session).list(user)[:20],
        "deployments": [
            d for d in DeploymentService(session).list(user) if d.status == DeploymentStatus.READY
        ],
        "default": DEFAULT_TEMPLATE,
    }


@router.get("/datasets/synthesize", response_class=HTMLResponse)
def synthesize_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return render(request, "synthesis/index.html", **_page_context(session, user))


@router.post("/ui/datasets/synthesize/preview", response_class=HTMLResponse)
async def preview_fragment(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    form = await request.form()
    try:
        # In a thread: a preview of the studio's own deployment calls this same web server's /v1.
        preview = await run_in_threadpool(
            SynthesisService(session).preview, user, parse_form(form, PreviewRequest)
        )
    except StudioError as exc:
        return render(request, "_error.html", message=exc.message, field=exc.field)
    return render(request, "synthesis/_preview.html", preview=preview)


@router.post("/ui/synthesis/templates", response_class=HTMLResponse)
async def save_template_fragment(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    form = await request.form()
    try:
        template = _template(form)
        if template is None:
            raise InvalidInput("Write the prompt (the user message) first.", field="prompt")
        fields = TemplateFields(**template)
        saved = SynthesisService(session).save_template(user, fields)
    except ValidationError as exc:
        return render(request, "_error.html", message=str(exc.errors()[0]["msg"]), field="template")
    except StudioError as exc:
        return render(request, "_error.html", message=exc.message, field=exc.field)
    return render(request, "synthesis/_template_saved.html", template=saved)


@router.post("/ui/datasets/synthesize", response_class=HTMLResponse)
async def start_fragment(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    form = await request.form()
    try:
        job = SynthesisService(session).create(user, parse_form(form))
    except StudioError as exc:
        session.rollback()
        return render(request, "_error.html", message=exc.message, field=exc.field)
    return render(request, "synthesis/_run.html", run=SynthesisService(session).read(user, job.id))


@router.get("/ui/datasets/synthesize/{job_id}", response_class=HTMLResponse)
def run_fragment(job_id: int, request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return render(request, "synthesis/_run.html", run=SynthesisService(session).read(user, job_id))


@router.post("/ui/datasets/synthesize/{job_id}/cancel", response_class=HTMLResponse)
def cancel_fragment(job_id: int, request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    service = SynthesisService(session)
    run = service.read(user, job_id)
    if not JobStatus(run.job.status).is_final:
        JobService(session).cancel(job_id, user.scope_owner_id)
    return render(request, "synthesis/_run.html", run=service.read(user, job_id))


@router.post("/ui/datasets/synthesize/{job_id}/resume", response_class=HTMLResponse)
def resume_fragment(job_id: int, request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    service = SynthesisService(session)
    try:
        job = service.resume(user, job_id, ResumeSynthesis())
    except StudioError as exc:
        return render(request, "_error.html", message=exc.message, field=exc.field)
    return render(request, "synthesis/_run.html", run=service.read(user, job.id))
