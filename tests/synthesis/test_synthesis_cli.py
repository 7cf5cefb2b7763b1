"""The CLI contract end to end: `ftstudio datasets synthesize ... --json` against an embedded data dir
(the job runs inside the command) and against a running studio (`ftstudio up`, --server)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.migrations import REPO_ROOT
from tests.spine.embedded_server import EmbeddedStudio
from tests.synthesis.conftest import API_KEY
from tests.synthesis.endpoint import TOPICS

pytestmark = pytest.mark.slow
KEYS = {"job_id", "dataset_id", "version", "num_rows", "num_unparsed"}


def synthesize(endpoint: Any, *where: str, topics: list[str], rows: int, name: str) -> dict[str, Any]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "FTSTUDIO_DATA_DIR")}
    command = [sys.executable, "-m", "app.cli.main", "datasets", "synthesize", "--base-url", endpoint.url,
               "--api-key", API_KEY, "--model", "tiny", "--topics", ",".join(topics), "--rows", str(rows),
               "--name", name, "--temperature", "0", "--rate-limit", "6000", "--backoff-base", "0.05",
               *where, "--json"]  # fmt: skip
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])


def test_cli_with_an_embedded_data_dir(endpoint: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    out = synthesize(endpoint, "--data-dir", str(data_dir), topics=TOPICS[12:15], rows=3, name="cli-embedded")
    assert set(out) == KEYS
    assert out["num_rows"] == 3 and out["num_unparsed"] == 0 and out["version"] == 1
    rows = (data_dir / "datasets" / str(out["dataset_id"]) / "v1" / "rows.jsonl").read_text("utf-8")
    assert len(rows.splitlines()) == 3 and "How can I cope with" in rows
    for path in data_dir.rglob("*"):
        if path.is_file() and path.suffix != ".db":
            assert API_KEY.encode() not in path.read_bytes(), path


def test_cli_with_a_running_studio(endpoint: Any, tmp_path: Path) -> None:
    studio = EmbeddedStudio(tmp_path / "data", "--no-demo-model")
    try:
        studio.wait_ready(timeout=180)
        out = synthesize(endpoint, "--server", studio.url, topics=TOPICS[15:17], rows=2, name="cli-server")
        assert set(out) == KEYS and out["num_rows"] == 2 and out["version"] == 1
        import httpx

        from tests.clients import auth_headers

        dataset = httpx.get(f"{studio.url}/api/v1/datasets/{out['dataset_id']}",
                            headers=auth_headers(tmp_path / "data")).json()  # fmt: skip
        assert dataset["name"] == "cli-server" and dataset["num_rows"] == 2
    finally:
        assert studio.stop() == 0, studio.output()
    assert API_KEY not in (tmp_path / "data-up.log").read_text(errors="replace")
