"""Dataset pages: the list with the upload form, and one dataset's page (versions, problems, duplicates,
statistics, the analysis job, the row preview with review actions). Review fragments: views_review.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from app.catalog.service import CatalogService
from app.datasets.analysis import AnalysisService
from app.datasets.api import parse_upload_options
from app.datasets.schemas import AnalyseRequest
from app.datasets.service import DatasetService, to_read
from app.deps import CurrentUser, SessionDep
from app.errors import InvalidInput, StudioError
from app.views_common import render

router = APIRouter(include_in_schema=False)

# Form fields of the column mapping (CSV / xlsx exports): form name -> the format's canonical field.
MAPPING_FIELDS = ("prompt", "response", "system", "instruction", "input", "output")
UPLOAD_FIELDS = ("name", "format", "on_invalid", "dedup", "near_dup_threshold", "max_chars", "val_set_size",
                 "val_set_rate", "seed")  # fmt: skip


def bars(histogram: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A histogram {"edges", "counts"} as bars with a height in percent of the tallest (for CSS bars)."""
    if not histogram or not histogram.get("counts"):
        return []
    counts, edges = histogram["counts"], histogram["edges"]
    top = max(counts) or 1
    return [
        {"low": edges[k], "high": edges[k + 1], "count": c, "height": round(100 * c / top, 1)}
        for k, c in enumerate(counts)
    ]


def _models(session: SessionDep) -> list[Any]:
    return [m for m in CatalogService(session).list() if not m.gguf_file]


def dataset_context(session: SessionDep, owner_id: int, dataset_id: int) -> dict[str, Any]:
    dataset = DatasetService(session).read(owner_id, dataset_id)
    analysis = dataset.analysis or {}
    result = analysis.get("result") or {}
    return {
        "dataset": dataset,
        "models": _models(session),
        "analysis": analysis,
        "result": result,
        "token_bars": bars((result.get("tokens") or {}).get("histogram")),
        "char_bars": bars((dataset.stats or {}).get("char_histogram")),
    }


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return render(request, "datasets/index.html", datasets=DatasetService(session).list(user.scope_owner_id))


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(
    dataset_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> HTMLResponse:
    context = dataset_context(session, user.scope_owner_id, dataset_id)
    return render(request, "datasets/detail.html", **context)


@router.post("/ui/datasets/upload", response_class=HTMLResponse)
async def upload_from_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    form = await request.form()
    file = form.get("file")
    service = DatasetService(session)
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise StudioError("Please choose a file.", field="file")
        mapping = {k: str(form.get(f"map_{k}")).strip() for k in MAPPING_FIELDS if form.get(f"map_{k}")}
        options = parse_upload_options(mapping=mapping or None, **{k: form.get(k) for k in UPLOAD_FIELDS})
        dataset = to_read(service.upload(user.user_id, file.file, file.filename, options))
    except StudioError as exc:
        return render(
            request,
            "datasets/_upload_result.html",
            error=exc.message,
            field=exc.field,
            problems=getattr(exc, "problems", []),
            datasets=service.list(user.scope_owner_id),
        )
    datasets = service.list(user.scope_owner_id)
    return render(request, "datasets/_upload_result.html", dataset=dataset, datasets=datasets)


@router.get("/ui/datasets/{dataset_id}/analysis", response_class=HTMLResponse)
def analysis_fragment(
    dataset_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> HTMLResponse:
    context = dataset_context(session, user.scope_owner_id, dataset_id)
    return render(request, "datasets/_analysis.html", **context)


@router.post("/ui/datasets/{dataset_id}/analyse", response_class=HTMLResponse)
async def analyse_from_page(
    dataset_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> HTMLResponse:
    form = await request.form()
    error = None
    try:
        values = {k: form.get(k) for k in ("model", "max_seq_length", "near_dup_threshold") if form.get(k)}
        try:
            analyse = AnalyseRequest(**values)
        except ValueError as exc:
            raise InvalidInput(f"Check the analysis settings: {exc}", field="max_seq_length") from exc
        AnalysisService(session).start(user.scope_owner_id, dataset_id, analyse)
    except StudioError as exc:
        session.rollback()
        error = exc.message
    context = dataset_context(session, user.scope_owner_id, dataset_id)
    return render(request, "datasets/_analysis.html", error=error, **context)


# The review fragments live in their own module; web.py includes only this router.
from app.datasets.views_review import router as review_router  # noqa: E402

router.include_router(review_router)
