"""The FastAPI application: routers, error shapes, language, static files."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from app import http_errors
from app.admin import api as admin_api
from app.admin import views as admin_views
from app.admission import AdmissionLimit, PoolTimeoutAnswer
from app.body_limit import BodyLimitMiddleware
from app.catalog import api as catalog_api
from app.catalog import views as catalog_views
from app.datasets import api as datasets_api
from app.datasets import views as datasets_views
from app.errors import StudioError
from app.evaluations import api as evaluations_api
from app.evaluations import views as evaluations_views
from app.exports import api as exports_api
from app.exports import views as exports_views
from app.i18n import current_language, pick_language
from app.jobs import api as jobs_api
from app.jobs import views as jobs_views
from app.migrations import REPO_ROOT
from app.plans import api as plans_api
from app.plans import views as plans_views
from app.playground import api as playground_api
from app.playground import views as playground_views
from app.secrets import install_log_filter
from app.serving import api as serving_api
from app.serving import openai_api as serving_openai_api
from app.settings import get_settings
from app.synthesis import api as synthesis_api
from app.synthesis import views as synthesis_views
from app.users import api as users_api
from app.users import views as users_views
from app.users.security import install as install_security

log = logging.getLogger("ftstudio.web")


def create_app() -> FastAPI:
    settings = get_settings()
    settings.ensure_dirs()
    app = FastAPI(
        title="FT Studio",
        version="0.1.0",
        description="Fine-tune open LLMs on your own data: datasets, jobs, models. "
        "Every page of the studio is built on this API.",
    )

    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=settings.max_upload_bytes)
    install_log_filter()  # database/Redis passwords never reach a log line

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

    http_errors.install(app)  # validation errors, out-of-range numbers, the documented error shape

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def overloaded(request: Request, exc: SQLAlchemyTimeoutError) -> Response:
        # Every database connection is busy: say so at once rather than queue the request for minutes.
        log.warning("database pool exhausted on %s", request.url.path)
        return JSONResponse(
            {"detail": "The studio is busy; try again in a few seconds."},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.get("/api/v1/health", tags=["meta"])
    async def health() -> dict[str, str]:
        # async: answered on the event loop, never waiting behind a full thread pool.
        return {"status": "ok"}

    for router in (
        synthesis_api.router,  # before datasets: /datasets/synthesize is not a /datasets/{dataset_id}
        synthesis_views.router,
        datasets_api.router,
        catalog_api.router,
        jobs_api.router,
        serving_api.router,
        serving_openai_api.router,
        playground_api.router,
        plans_api.router,
        plans_views.router,
        evaluations_api.router,
        evaluations_views.router,
        exports_api.router,
        exports_views.router,
        users_api.router,
        users_views.router,
        admin_api.router,
        admin_views.router,
        datasets_views.router,
        catalog_views.router,
        jobs_views.router,
        playground_views.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(REPO_ROOT / "static")), name="static")
    install_security(app, settings)  # sign-in, CSRF, Host, headers
    # Outside the sign-in middleware: its refusals (401/403 pages) and the redirect to /login speak the
    # language asked for, and `?lang=` on a page that redirects to /login still sets the cookie.
    app.middleware("http")(language)
    app.add_middleware(
        AdmissionLimit,
        limit=settings.web_max_concurrent_requests,
        wait_seconds=settings.web_queue_timeout_seconds,
    )
    app.add_middleware(PoolTimeoutAnswer)  # outermost: a busy pool met in any middleware is a 503 too
    return app
