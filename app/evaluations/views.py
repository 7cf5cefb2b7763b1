"""Pages of the scorecard: list, one evaluation, base vs fine-tuned, the MMCU leaderboard, and the job page's
"Compare with base model" form (htmx)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.deps import CurrentUser, SessionDep
from app.errors import StudioError
from app.evaluations.compare import chart_bars
from app.evaluations.schemas import EvalSuite
from app.evaluations.service import MMCU_DOMAINS, EvaluationService
from app.jobs.repository import JobRepository
from app.jobs.service import JobService
from app.views_common import render

router = APIRouter(include_in_schema=False)


def _int(form: dict[str, str], name: str, default: int | None) -> int | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}: '{raw}' is not a whole number") from exc


def suite_from_form(form: dict[str, str]) -> EvalSuite:
    """The job panel's form -> EvalSuite. Checkboxes choose the parts; empty numbers take the defaults."""
    suite: dict[str, object] = {}
    if form.get("bleu_rouge"):
        generation = {"preset": form.get("preset") or "greedy"}
        if max_new := _int(form, "max_new_tokens", None):
            generation["max_new_tokens"] = max_new
        suite["bleu_rouge"] = {"limit": _int(form, "bleu_limit", 40), "generation": generation}
    if form.get("mmcu"):
        suite["mmcu"] = {
            "data_dir": (form.get("mmcu_data_dir") or "").strip(),
            "mode": form.get("mmcu_mode") or "likelihood",
            "shots": _int(form, "mmcu_shots", 0),
            "limit": _int(form, "mmcu_limit", None),
        }
    return EvalSuite.model_validate(suite)


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


@router.post("/ui/jobs/{job_id}/compare", response_class=HTMLResponse)
async def compare_from_page(
    job_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        suite = suite_from_form(form)
        service = EvaluationService(session)
        base, tuned, _cached = service.compare_with_base(user.scope_owner_id, job_id, suite)
    except StudioError as exc:
        return render(request, "_error.html", message=exc.message, field=exc.field)
    except ValidationError as exc:
        return render(request, "_error.html", message=_validation_message(exc), field=None)
    except ValueError as exc:
        return render(request, "_error.html", message=str(exc), field=None)
    return Response(
        status_code=204, headers={"HX-Redirect": f"/evaluations/compare?base={base.id}&tuned={tuned.id}"}
    )


@router.get("/ui/jobs/{job_id}/evaluations", response_class=HTMLResponse)
def job_evaluations(
    job_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> HTMLResponse:
    """The fine-tune evaluations of one train job, each with its base twin (for the compare link)."""
    JobService(session).get(job_id, user.scope_owner_id)  # another user's job is a 404, not an empty list
    service = EvaluationService(session)
    tuned = service.evaluations.list(user.scope_owner_id, parent_job_id=job_id)
    scores = service.evaluations.scores([j.id for j in tuned])
    items = []
    for job in tuned:
        twin = service.base_twin(user.scope_owner_id, job)
        items.append(
            {
                "tuned": service.to_read(job, scores[job.id], with_samples=False),
                "base_id": twin.id if twin else None,
            }
        )
    return render(request, "evaluations/_job_evaluations.html", items=items)


@router.get("/ui/jobs/{job_id}/eval-panel", response_class=HTMLResponse)
def job_panel(job_id: int, request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    """The job page's evaluation panel on its own, for its 5-second refresh while the job runs."""
    job = JobService(session).read(job_id, user.scope_owner_id)
    return render(
        request, "evaluations/_job_panel.html", job=job, events=JobRepository(session).events(job_id)
    )


@router.get("/evaluations", response_class=HTMLResponse)
def evaluations_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    evaluations = EvaluationService(session).list(user.scope_owner_id)
    return render(request, "evaluations/index.html", evaluations=evaluations)


@router.get("/evaluations/compare", response_class=HTMLResponse)
def compare_page(
    request: Request, session: SessionDep, user: CurrentUser, base: int, tuned: int
) -> HTMLResponse:
    service = EvaluationService(session)
    base_read, tuned_read = service.read(base, user.scope_owner_id), service.read(tuned, user.scope_owner_id)
    if base_read.status != "succeeded" or tuned_read.status != "succeeded":
        # Still running (or failed): show both statuses; the page reloads itself while they run.
        return render(request, "evaluations/compare.html", base=base_read, tuned=tuned_read, comparison=None)
    comparison = service.comparison(user.scope_owner_id, base, tuned)
    rows = [r.model_dump() for r in comparison.rows]
    return render(
        request,
        "evaluations/compare.html",
        base=base_read,
        tuned=tuned_read,
        comparison=comparison,
        bars={"bleu_rouge": chart_bars(rows, suite="bleu_rouge"), "mmcu": chart_bars(rows, suite="mmcu")},
    )


@router.get("/evaluations/leaderboard", response_class=HTMLResponse)
def leaderboard_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return render(
        request,
        "evaluations/leaderboard.html",
        rows=EvaluationService(session).leaderboard(user.scope_owner_id),
        domains=MMCU_DOMAINS,
    )


@router.get("/evaluations/{evaluation_id}", response_class=HTMLResponse)
def evaluation_page(
    evaluation_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> HTMLResponse:
    evaluation = EvaluationService(session).read(evaluation_id, user.scope_owner_id)
    return render(request, "evaluations/detail.html", evaluation=evaluation)
