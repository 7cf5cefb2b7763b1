"""Fixtures of the dataset API tests: the spine's whole-studio fixtures (real app + DB, a real worker),
the shared real data folder, and helpers that upload files and look at what the studio left on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.spine.conftest import (  # noqa: F401
    client,
    embedded,
    running_worker,
    studio,
    tiny_model_dir,
    tiny_model_id,
)

# The repo's parent folder holds shared/ (real public data, never copied into the repo).
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data folder {SHARED_DATA} is absent (it sits next to the repository)")
    return SHARED_DATA


def upload(http: TestClient, name: str, content: bytes, **data: object):  # type: ignore[no-untyped-def]
    """POST /api/v1/datasets with a file and form options; returns the response."""
    form = {k: str(v) for k, v in data.items() if v is not None}
    return http.post("/api/v1/datasets", files={"file": (name, content)}, data=form)


def stored_files(data_dir: Path) -> set[str]:
    """Every file under the studio's datasets and uploads folders (relative paths)."""
    found = set()
    for folder in ("datasets", "uploads"):
        root = data_dir / folder
        if root.is_dir():
            found |= {str(p.relative_to(data_dir)) for p in root.rglob("*") if p.is_file()}
    return found
