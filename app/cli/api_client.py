"""A small REST client for the CLI: every job command goes through the same public API as scripts do."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import typer


def default_api_url() -> str:
    if url := os.environ.get("FTSTUDIO_API_URL"):
        return url.rstrip("/")
    host = os.environ.get("FTSTUDIO_HOST", "127.0.0.1")
    return f"http://{host}:{os.environ.get('FTSTUDIO_PORT', '8000')}"


def find_token() -> str | None:
    """FTSTUDIO_TOKEN, else the config file (FTSTUDIO_TOKEN_FILE or ~/.config/ftstudio/token), else the
    token file an embedded studio keeps for its local admin in its data dir (0600, made at start)."""
    if token := os.environ.get("FTSTUDIO_TOKEN", "").strip():
        return token
    config_dir = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    candidates = [Path(os.environ.get("FTSTUDIO_TOKEN_FILE") or config_dir / "ftstudio" / "token")]
    from app.settings import get_settings  # a studio on this machine: its data dir's token file

    candidates.append(get_settings().resolved_data_dir / "cli_token")
    for path in candidates:
        try:
            if token := path.read_text().strip():
                return token
        except OSError:
            continue
    return None


class ApiClient:
    def __init__(self, base_url: str | None = None, timeout: float = 60.0) -> None:
        token = find_token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=(base_url or default_api_url()) + "/api/v1", timeout=timeout, headers=headers
        )

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
            if response.status_code == 401:
                detail = f"{detail} Set FTSTUDIO_TOKEN (ftstudio users token) or run on the studio's machine."
            typer.echo(f"Error {response.status_code}: {detail}", err=True)
            raise typer.Exit(code=1)
        return response.json() if response.content else None
