"""Review fragments of the dataset page: the row preview (search, pages, flags, drop), the loss-token view
of one row, new versions (drop selected / duplicates / over-long rows, re-split), archive."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.datasets.review import ReviewService
from app.datasets.schemas import FlagRequest, NewVersionRequest
from app.datasets.service import DatasetService
from app.datasets.token_preview import token_preview
from app.datasets.versions import VersionService
from app.deps import CurrentUser, SessionDep
from app.errors import InvalidInput, StudioError
from app.views_common import is_htmx, render, render_error

router = APIRouter(include_in_schema=False)


def _int(value: object) -> int | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a whole number", field="page") from None


def _float(value: object) -> float | None:
    text = str(value).strip() if value is not None else ""
    try:
        return float(text) if text else None
    except ValueError:
        raise InvalidInput(f"{text!r} is not a number", field="val_set_rate") from None


def _redirect(request: Request, url: str) -> Response:
    """htmx follows HX-Redirect; a plain form post follows a 303."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@router.get("/ui/datasets/{dataset_id}/rows", response_class=HTMLResponse)
def rows_fragment(
    dataset_id: int,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    version: str | None = None,
    split: str = "train",
    q: str | None = None,
    page: str | None = None,
    page_size: str | None = None,
    model: str | None = None,
) -> HTMLResponse:
    try:
        rows = ReviewService(session).rows_page(
            user.scope_owner_id, dataset_id, version=_int(version), split=split, q=q,
            page=_int(page) or 1, page_size=_int(page_size) or 20,
        )  # fmt: skip
    except StudioError as exc:
        return render_error(request, exc.message, exc.status_code)
    return render(request, "datasets/_rows.html", rows=rows, dataset_id=dataset_id, model=model or "")


@router.get("/ui/datasets/{dataset_id}/rows/{row_id}/tokens", response_class=HTMLResponse)
def tokens_fragment(
    dataset_id: int,
    row_id: str,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    model: str = "",
    version: str | None = None,
) -> HTMLResponse:
    try:
        if not model:
            raise InvalidInput("Choose a base model to see its tokens.", field="model")
        preview = token_preview(
            session, user.scope_owner_id, dataset_id, row_id, model_id=model, version=_int(version)
        )
    except StudioError as exc:
        return render_error(request, exc.message, exc.status_code)
    return render(request, "datasets/_tokens.html", preview=preview)


@router.post("/ui/datasets/{dataset_id}/versions", response_model=None)
async def new_version_from_page(
    dataset_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    """One form for every review action: drop the ticked rows, the report's duplicates, over-long or
    flagged rows, and/or re-split. Each makes a new version; the page then shows it."""
    form = await request.form()
    ids = [str(v) for v in form.getlist("row_id")]
    ids += str(form.get("extra_ids") or "").split()  # the report's ids (duplicates, over-long, flagged)
    try:
        if form.get("action") == "flag":
            if not ids:
                raise InvalidInput("Tick the rows to flag first.", field="row_id")
            flag = FlagRequest(version=_int(form.get("version")), row_ids=ids)
            ReviewService(session).set_flags(user.scope_owner_id, dataset_id, flag)
            return _redirect(request, f"/datasets/{dataset_id}#preview")
        try:
            new = NewVersionRequest(
                base_version=_int(form.get("version")),
                drop_row_ids=sorted(set(ids)),
                note=str(form.get("note") or "").strip() or None,
                val_set_size=_int(form.get("val_set_size")),
                val_set_rate=_float(form.get("val_set_rate")),
                seed=_int(form.get("seed")),
            )
        except ValidationError as exc:
            raise InvalidInput(f"Check the form: {exc.errors()[0]['msg']}", field="drop_row_ids") from exc
        VersionService(session).create_version(user.scope_owner_id, dataset_id, new)
    except StudioError as exc:
        session.rollback()
        return render_error(request, exc.message, exc.status_code)
    return _redirect(request, f"/datasets/{dataset_id}")


@router.post("/ui/datasets/{dataset_id}/archive", response_model=None)
async def archive_from_page(
    dataset_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    form = await request.form()
    DatasetService(session).set_archived(user.scope_owner_id, dataset_id, form.get("archived") != "0")
    return _redirect(request, f"/datasets/{dataset_id}")


@router.post("/ui/datasets/{dataset_id}/delete", response_model=None)
def delete_from_page(
    dataset_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    try:
        DatasetService(session).delete(user.scope_owner_id, dataset_id)
    except StudioError as exc:
        return render_error(request, exc.message, exc.status_code)
    return _redirect(request, "/datasets")
