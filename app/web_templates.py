"""The Jinja2 environment every page renders through (i18n and formatting helpers as globals)."""

from __future__ import annotations

from datetime import datetime

from fastapi.templating import Jinja2Templates

from app.i18n import current_language, say, translate, translate_format
from app.migrations import REPO_ROOT


def human_bytes(value: int | float | None) -> str:
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} TiB"


def human_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "–"


def human_seconds(value: float | None) -> str:
    if value is None:
        return "–"
    minutes, seconds = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


templates = Jinja2Templates(directory=str(REPO_ROOT / "templates"))
templates.env.globals.update(t=translate, tf=translate_format, say=say, lang=lambda: current_language.get())
templates.env.filters.update(bytes=human_bytes, time=human_time, seconds=human_seconds)
