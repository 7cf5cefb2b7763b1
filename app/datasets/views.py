from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from app.datasets.api import parse_upload_options
from app.datasets.service import DatasetService, to_read
from app.deps import CurrentUserId, SessionDep
from app.errors import StudioError
from app.views_common import render

router = APIRouter(include_in_schema=False)


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, session: SessionDep, owner_id: CurrentUserId) -> HTMLResponse:
    return render(request, "datasets/index.html", datasets=DatasetService(session).list(owner_id))


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(
    dataset_id: int, request: Request, session: SessionDep, owner_id: CurrentUserId
) -> HTMLResponse:
    dataset = to_read(DatasetService(session).get(owner_id, dataset_id))
    return render(request, "datasets/detail.html", dataset=dataset)


@router.post("/ui/datasets/upload", response_class=HTMLResponse)
async def upload_from_page(request: Request, session: SessionDep, owner_id: CurrentUserId) -> HTMLResponse:
    form = await request.form()
    file = form.get("file")
    service = DatasetService(session)
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise StudioError("Please choose a file.", field="file")
        options = parse_upload_options(
            name=form.get("name"),
            on_invalid=form.get("on_invalid"),
            val_set_size=form.get("val_set_size"),
            val_set_rate=form.get("val_set_rate"),
            dedup=form.get("dedup"),
        )
        dataset = to_read(service.upload(owner_id, file.file, file.filename, options))
    except StudioError as exc:
        return render(
            request, "datasets/_upload_result.html", error=exc.message, datasets=service.list(owner_id)
        )
    return render(request, "datasets/_upload_result.html", dataset=dataset, datasets=service.list(owner_id))
