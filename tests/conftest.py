"""Shared by every test folder: where the read-only public data lives."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# Tests build model folders under the temp dir (tmp_path) and register them as the local admin: allow that
# root for the whole run, in this process and in the studios and workers it starts (they copy os.environ).
_TEST_ROOTS = json.dumps([tempfile.gettempdir(), str(SHARED_DATA)])
os.environ.setdefault("FTSTUDIO_MODEL_ROOTS", _TEST_ROOTS)
os.environ.setdefault("FTSTUDIO_EVAL_DATA_ROOTS", _TEST_ROOTS)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"the shared public data folder {SHARED_DATA} is absent (it sits beside the checkout in CI)"
        )
    return SHARED_DATA
