from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.catalog.service import CatalogService
from app.datasets.service import DatasetService
from app.deps import CurrentUserId, SessionDep
from app.errors import StudioError
from app.jobs.form import clone_context, form_sections, parse_hyperparameters
from app.jobs.hyperparameters import METHODS
from app.jobs.repository import JobRepository
from app.jobs.schemas import TrainJobCreate
from app.jobs.service import JobService
from app.views_common import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, owner_id: CurrentUserId) -> HTMLResponse:
    return jobs_page(request, session, owner_id)


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, session: SessionDep, owner_id: CurrentUserId) -> HTMLResponse:
    return render(request, "jobs/index.html", jobs=JobService(session).list(owner_id))


@router.get("/ui/jobs/table", response_class=HTMLResponse)
def jobs_table(request: Request, session: SessionDep, owner_id: CurrentUserId) -> HTMLResponse:
    return render(request, "jobs/_table.html", jobs=JobService(session).list(owner_id))


def _form_context(session: SessionDep, owner_id: int, **extra: object) -> dict[str, object]:
    basic, advanced = form_sections()
    datasets = [d for d in DatasetService(session).list(owner_id) if not d.archived]
    return {
        "datasets": datasets,
        "models": CatalogService(session).list(),
        "methods": METHODS,
        "basic_fields": basic,
        "advanced_fields": advanced,
        "values": {},
        **extra,
    }


@router.get("/jobs/new", response_class=HTMLResponse)
def new_job_page(
    request: Request,
    session: SessionDep,
    owner_id: CurrentUserId,
    dataset_id: int | None = None,
    dataset_version: int | None = None,
    model: str | None = None,
    clone_from: int | None = None,
) -> HTMLResponse:
    """Links from a dataset version ("fine-tune this version") or an export ("train it again") fill it in;
    ?clone_from=JOB fills every field from that job's config."""
    context = _form_context(
        session, owner_id, selected_dataset=dataset_id, selected_version=dataset_version, selected_model=model
    )
    if clone_from is not None:
        context.update(clone_context(JobService(session).get(clone_from, owner_id)))
    return render(request, "jobs/new.html", **context)


@router.post("/ui/jobs", response_class=HTMLResponse)
async def submit_job(request: Request, session: SessionDep, owner_id: CurrentUserId) -> Response:
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
        job = JobService(session).create_train_job(owner_id, create)
    except StudioError as exc:
        return render(request, "_error.html", message=exc.message, field=exc.field)
    except ValueError as exc:
        return render(request, "_error.html", message=str(exc), field=None)
    # htmx follows this header with a full page load of the new job.
    return Response(status_code=204, headers={"HX-Redirect": f"/jobs/{job.id}"})


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: int, request: Request, session: SessionDep, owner_id: CurrentUserId) -> HTMLResponse:
    service = JobService(session)
    job = service.read(job_id, owner_id)
    return render(request, "jobs/detail.html", job=job, events=JobRepository(session).events(job_id))


@router.get("/ui/jobs/{job_id}/summary", response_class=HTMLResponse)
def job_summary(job_id: int, request: Request, session: SessionDep, owner_id: CurrentUserId) -> HTMLResponse:
    job = JobService(session).read(job_id, owner_id)
    return render(request, "jobs/_summary.html", job=job, events=JobRepository(session).events(job_id))


@router.post("/ui/jobs/{job_id}/cancel", response_class=HTMLResponse)
def cancel_from_page(
    job_id: int, request: Request, session: SessionDep, owner_id: CurrentUserId
) -> HTMLResponse:
    service = JobService(session)
    service.cancel(job_id, owner_id)
    return render(
        request,
        "jobs/_summary.html",
        job=service.read(job_id, owner_id),
        events=JobRepository(session).events(job_id),
    )
