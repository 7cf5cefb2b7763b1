"""A small REST client for the CLI: every job command goes through the same public API as scripts do."""

from __future__ import annotations

import os
from typing import Any

import httpx
import typer


def default_api_url() -> str:
    if url := os.environ.get("FTSTUDIO_API_URL"):
        return url.rstrip("/")
    host = os.environ.get("FTSTUDIO_HOST", "127.0.0.1")
    return f"http://{host}:{os.environ.get('FTSTUDIO_PORT', '8000')}"


class ApiClient:
    def __init__(self, base_url: str | None = None, timeout: float = 60.0) -> None:
        self.http = httpx.Client(base_url=(base_url or default_api_url()) + "/api/v1", timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise typer.BadParameter(
                f"cannot reach FT Studio at {self.http.base_url}: is it running? ({exc})"
            ) from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            typer.echo(f"Error {response.status_code}: {detail}", err=True)
            raise typer.Exit(code=1)
        return response.json() if response.content else None
