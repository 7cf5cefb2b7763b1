from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.catalog.service import CatalogService
from app.deps import SessionDep
from app.views_common import render

router = APIRouter(include_in_schema=False)


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, session: SessionDep) -> HTMLResponse:
    return render(request, "models/index.html", models=CatalogService(session).list())
