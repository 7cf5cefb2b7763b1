"""Shared by every test folder: where the read-only public data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"the shared public data folder {SHARED_DATA} is absent (it sits beside the checkout in CI)"
        )
    return SHARED_DATA
