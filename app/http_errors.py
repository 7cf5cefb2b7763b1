"""How errors reach an API caller: one JSON shape for every 4xx, documented in the OpenAPI schema as it
is really sent, and the database's "number out of range" turned into a 422 instead of a 500."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError

_SECTIONS = ("body", "query", "path", "form", "header", "cookie")
OUT_OF_RANGE = (
    "A number or text in the request is out of range for the studio's database "
    "(ids are below 2^63; names have a maximum length)."
)

# What validation_error and StudioError.to_json send: detail is one readable sentence.
ERROR_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "title": "Detail", "description": "What is wrong, in one sentence."},
        "field": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "title": "Field",
            "description": "The request field at fault (dotted), when there is one.",
        },
        "errors": {
            "type": "array",
            "title": "Errors",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                },
            },
        },
        "problems": {"type": "array", "title": "Problems", "items": {"type": "object"}},
    },
}


def field_of(loc: tuple | list) -> str:
    """("body", "suite", "path") -> "suite.path": only the leading section name is dropped, so a field
    that is itself called "path" or "query" keeps its name (it used to vanish, leaving field null)."""
    parts = list(loc)
    if parts and parts[0] in _SECTIONS:
        parts = parts[1:]
    return ".".join(str(p) for p in parts)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = field_of(first["loc"])
    message = f"{field}: {first['msg']}" if field else str(first["msg"])
    return JSONResponse(
        {
            "detail": message,
            "field": field or None,
            "errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors],
        },
        status_code=422,
    )


async def out_of_range(request: Request, exc: Exception) -> Response:
    """SQLite raises OverflowError for an int past 2^63 and PostgreSQL a DataError (also for text over a
    column's length): the caller's input is at fault."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": OUT_OF_RANGE, "field": None}, status_code=422)
    from app.views_common import render_error

    return render_error(request, OUT_OF_RANGE, 422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(OverflowError, out_of_range)
    app.add_exception_handler(DataError, out_of_range)

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # FastAPI's own, which documents 422 as {"detail": [ValidationError]}
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["HTTPValidationError"] = ERROR_SCHEMA
            schemas.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
