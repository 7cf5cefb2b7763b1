from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.catalog.service import CatalogService
from app.deps import CurrentUser, SessionDep
from app.errors import StudioError
from app.views_common import is_htmx, render, render_error

router = APIRouter(include_in_schema=False)


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return render(request, "models/index.html", models=CatalogService(session).list(), is_admin=user.is_admin)


@router.post("/ui/models/{model_id}/trust-remote-code", response_model=None)
async def toggle_remote_code(
    model_id: str, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    """The models page's admin toggle of the trust_remote_code allow-list."""
    if not user.is_admin:
        return render_error(request, "Only an admin can allow a model to run its own code.", 403)
    allow = (await request.form()).get("allow") == "1"
    try:
        CatalogService(session).set_trust_remote_code(model_id, allow)
    except StudioError as exc:
        return render_error(request, exc.message, exc.status_code)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": "/models"})
    return RedirectResponse("/models", status_code=303)
