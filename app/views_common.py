"""Helpers shared by the HTML routers."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.web_templates import templates


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


ERROR_HEADER = "X-FTStudio-Error"  # marks a 200 htmx fragment that reports a refusal (not audited as done)


def render(request: Request, name: str, *, http_status: int = 200, **context: object) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=http_status)
    if name == "_error.html":
        response.headers[ERROR_HEADER] = "1"
    return response


def render_error(request: Request, message: str, status_code: int) -> HTMLResponse:
    """A readable message: a fragment for htmx swaps, a whole page otherwise. htmx swaps 4xx only when
    told to, so fragments are answered with 200 and the message inside."""
    if is_htmx(request):
        return render(request, "_error.html", message=message, status_code=status_code)
    return render(request, "error.html", http_status=status_code, message=message, status_code=status_code)
