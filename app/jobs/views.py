from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.catalog.service import CatalogService
from app.datasets.service import DatasetService
from app.deps import CurrentUser, SessionDep
from app.errors import NotFound, StudioError
from app.jobs.compare import compare_jobs, parse_ids
from app.jobs.form import clone_context, form_sections, parse_hyperparameters
from app.jobs.hyperparameters import AUTO_METHOD, METHODS
from app.jobs.logs import job_log_tail
from app.jobs.repository import JobRepository
from app.jobs.schemas import TrainJobCreate
from app.jobs.service import JobService
from app.models import JobStatus
from app.views_common import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return jobs_page(request, session, user)


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return render(request, "jobs/index.html", jobs=JobService(session).list(user.scope_owner_id))


@router.get("/ui/jobs/table", response_class=HTMLResponse)
def jobs_table(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return render(request, "jobs/_table.html", jobs=JobService(session).list(user.scope_owner_id))


def _form_context(session: SessionDep, owner_id: int, **extra: object) -> dict[str, object]:
    basic, advanced = form_sections()
    datasets = [d for d in DatasetService(session).list(owner_id) if not d.archived]
    return {
        "datasets": datasets,
        "models": CatalogService(session).list(),
        "methods": (AUTO_METHOD, *METHODS),  # auto first and selected: what "only click Start" gets
        "basic_fields": basic,
        "advanced_fields": advanced,
        "values": {},
        **extra,
    }


@router.get("/jobs/new", response_class=HTMLResponse)
def new_job_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    dataset_id: int | None = None,
    dataset_version: int | None = None,
    model: str | None = None,
    clone_from: int | None = None,
) -> HTMLResponse:
    """Links from a dataset version ("fine-tune this version") or an export ("train it again") fill it in;
    ?clone_from=JOB fills every field from that job's config."""
    context = _form_context(
        session, user.user_id,
        selected_dataset=dataset_id, selected_version=dataset_version, selected_model=model,
    )
    if clone_from is not None:
        context.update(clone_context(JobService(session).get(clone_from, user.scope_owner_id)))
    return render(request, "jobs/new.html", **context)


@router.post("/ui/jobs", response_class=HTMLResponse)
async def submit_job(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        create = TrainJobCreate(
            dataset_id=int(form.get("dataset_id") or 0),
            dataset_version=int(form["dataset_version"]) if form.get("dataset_version") else None,
            base_model=form.get("base_model", ""),
            method=form.get("method", "lora"),
            name=form.get("name") or None,
            hyperparameters=parse_hyperparameters(form),
        )
        job = JobService(session).create_train_job(user.user_id, create)
    except StudioError as exc:
        return render(request, "_error.html", message=exc.message, field=exc.field)
    except ValueError as exc:
        return render(request, "_error.html", message=str(exc), field=None)
    # htmx follows this header with a full page load of the new job.
    return Response(status_code=204, headers={"HX-Redirect": f"/jobs/{job.id}"})


@router.get("/jobs/compare", response_class=HTMLResponse)
def compare_page(
    request: Request, session: SessionDep, user: CurrentUser, ids: list[str] = Query(default=[])
) -> HTMLResponse:
    """Curves (drawn by static/js/compare.js from the API), configs and scores side by side."""
    ids_parsed = parse_ids(ids)
    data = compare_jobs(session, ids_parsed, user.scope_owner_id)
    return render(request, "jobs/compare.html", data=data, ids=",".join(str(i) for i in ids_parsed))


@router.get("/ui/jobs/{job_id}/logs", response_class=HTMLResponse)
def job_logs_fragment(
    job_id: int, request: Request, session: SessionDep, user: CurrentUser, tail: int = 60
) -> HTMLResponse:
    job = JobRepository(session).get(job_id, user.scope_owner_id)
    if job is None:
        raise NotFound(f"Job {job_id} does not exist.")
    logs = job_log_tail(job, max(1, min(tail, 500)))
    # 286 tells htmx to stop polling: a finished job's log does not grow any more.
    final = JobStatus(job.status).is_final
    return render(request, "jobs/_logs.html", logs=logs, http_status=286 if final else 200)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: int, request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    service = JobService(session)
    job = service.read(job_id, user.scope_owner_id)
    return render(request, "jobs/detail.html", job=job, events=JobRepository(session).events(job_id))


@router.get("/ui/jobs/{job_id}/summary", response_class=HTMLResponse)
def job_summary(job_id: int, request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    job = JobService(session).read(job_id, user.scope_owner_id)
    return render(request, "jobs/_summary.html", job=job, events=JobRepository(session).events(job_id))


@router.post("/ui/jobs/{job_id}/cancel", response_class=HTMLResponse)
def cancel_from_page(
    job_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> HTMLResponse:
    service = JobService(session)
    service.cancel(job_id, user.scope_owner_id)
    return render(
        request,
        "jobs/_summary.html",
        job=service.read(job_id, user.scope_owner_id),
        events=JobRepository(session).events(job_id),
    )
