"""The FastAPI application: routers, error shapes, language, static files."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from app.catalog import api as catalog_api
from app.catalog import views as catalog_views
from app.datasets import api as datasets_api
from app.datasets import views as datasets_views
from app.errors import StudioError
from app.i18n import current_language, pick_language
from app.jobs import api as jobs_api
from app.jobs import views as jobs_views
from app.migrations import REPO_ROOT
from app.settings import get_settings
from app.synthesis import api as synthesis_api
from app.synthesis import views as synthesis_views

log = logging.getLogger("ftstudio.web")


def _optional_routers() -> list:
    """Routers of capabilities that live in their own packages; each is added when present."""
    routers = []
    for module_name in (
        "app.plans.api",
        "app.plans.views",
        "app.evaluations.api",
        "app.evaluations.views",
        "app.exports.api",
        "app.exports.views",
    ):
        try:
            module = __import__(module_name, fromlist=["router"])
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        routers.append(module.router)
    return routers


def create_app() -> FastAPI:
    settings = get_settings()
    settings.ensure_dirs()
    app = FastAPI(
        title="FT Studio",
        version="0.1.0",
        description="Fine-tune open LLMs on your own data: datasets, jobs, models. "
        "Every page of the studio is built on this API.",
    )

    @app.middleware("http")
    async def language(request: Request, call_next):  # type: ignore[no-untyped-def]
        lang = pick_language(
            request.cookies.get("lang"), request.query_params.get("lang"), settings.default_language
        )
        token = current_language.set(lang)
        try:
            response: Response = await call_next(request)
        finally:
            current_language.reset(token)
        if request.query_params.get("lang") == lang:
            response.set_cookie("lang", lang, max_age=365 * 24 * 3600, samesite="lax")
        return response

    @app.exception_handler(StudioError)
    async def studio_error(request: Request, exc: StudioError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse(exc.to_json(), status_code=exc.status_code)
        from app.views_common import render_error

        return render_error(request, exc.message, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first["loc"] if p not in ("body", "query", "path", "form"))
        message = f"{field}: {first['msg']}" if field else str(first["msg"])
        return JSONResponse(
            {
                "detail": message,
                "field": field or None,
                "errors": [{"loc": e["loc"], "msg": e["msg"]} for e in errors],
            },
            status_code=422,
        )

    @app.get("/api/v1/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    for router in (
        synthesis_api.router,  # before datasets: /datasets/synthesize is not a /datasets/{dataset_id}
        synthesis_views.router,
        datasets_api.router,
        catalog_api.router,
        jobs_api.router,
        *_optional_routers(),
        datasets_views.router,
        catalog_views.router,
        jobs_views.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(REPO_ROOT / "static")), name="static")
    return app
