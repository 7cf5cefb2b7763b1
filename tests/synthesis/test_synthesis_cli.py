"""The CLI contract end to end: `ftstudio datasets synthesize ... --json` against an embedded data dir
(the job runs inside the command) and against a running studio (`ftstudio up`, --server)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.migrations import REPO_ROOT
from tests.spine.embedded_server import EmbeddedStudio
from tests.synthesis.conftest import API_KEY
from tests.synthesis.endpoint import TOPICS

pytestmark = pytest.mark.slow
KEYS = {"job_id", "dataset_id", "version", "num_rows", "num_unparsed"}


def synthesize(
    endpoint: Any, *where: str, topics: list[str], rows: int, name: str, token: str | None = None
) -> dict[str, Any]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "FTSTUDIO_DATA_DIR")}
    command = [sys.executable, "-m", "app.cli.main", "datasets", "synthesize", "--base-url", endpoint.url,
               "--api-key", API_KEY, "--model", "tiny", "--topics", ",".join(topics), "--rows", str(rows),
               "--name", name, "--temperature", "0", "--rate-limit", "6000", "--backoff-base", "0.05",
               *where, "--json"]  # fmt: skip
    if token:  # a running studio signs the CLI in with a user token
        env["FTSTUDIO_TOKEN"] = token
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


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStudio]:
    """`ftstudio up` (web + its local worker) in a subprocess, as a user runs it."""
    root = tmp_path_factory.mktemp("synth-up")
    studio = EmbeddedStudio(root / "data", "--no-demo-model")
    try:
        studio.wait_ready(timeout=180)
        yield studio
    finally:
        assert studio.stop() == 0, studio.output()
        assert API_KEY not in (root / "data-up.log").read_text(errors="replace")


def test_cli_with_a_running_studio(endpoint: Any, up: EmbeddedStudio) -> None:
    import httpx

    from tests.clients import auth_headers, token_for

    out = synthesize(endpoint, "--server", up.url, topics=TOPICS[15:17], rows=2, name="cli-server",
                     token=token_for(None, up.data_dir))  # fmt: skip
    assert set(out) == KEYS and out["num_rows"] == 2 and out["version"] == 1
    url = f"{up.url}/api/v1/datasets/{out['dataset_id']}"
    dataset = httpx.get(url, headers=auth_headers(up.data_dir)).json()
    assert dataset["name"] == "cli-server" and dataset["num_rows"] == 2


@pytest.mark.browser
def test_generate_from_the_page_in_a_browser(endpoint: Any, up: EmbeddedStudio) -> None:
    """Headless Chromium: save a template, pick it again (filled by static/js/synthesis.js), preview one
    call, generate, watch the run card land its dataset."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        page = browser.new_page()
        from tests.clients import signin_url

        page.goto(signin_url(up.url, up.data_dir))  # accounts: the page needs a signed-in browser
        page.goto(f"{up.url}/datasets/synthesize?lang=en")
        page.fill("#synth-template-name", "browser-template")
        page.fill("#synth-role", "A role written in the browser.")
        page.click("#synth-save-template")
        page.wait_for_selector("#synth-template-saved", timeout=30_000)
        page.reload()
        page.select_option("#synth-template-select", label="browser-template")
        # Polled from Python: wait_for_function evaluates a string, which the page's CSP (no eval) refuses.
        deadline = time.monotonic() + 10
        while page.input_value("#synth-role") != "A role written in the browser.":
            assert time.monotonic() < deadline, "choosing the saved template did not fill its role"
            page.wait_for_timeout(100)
        for selector, value in [
            ("#synth-base-url", endpoint.url),
            ("#synth-api-key", API_KEY),
            ("#synth-model", "tiny"),
            ("#synth-topics", "music\npets"),
            ("#synth-rows", "2"),
            ("input[name=temperature]", "0"),
            ("input[name=rate_limit_per_minute]", "6000"),
            ("input[name=max_tokens]", "80"),
            ("#synth-name", "from-the-browser"),
        ]:
            page.fill(selector, value)
        page.click("#synth-preview")
        page.wait_for_selector("#synth-answer", timeout=60_000)
        assert "How can I cope with music?" in page.inner_text("#synth-preview-card")
        page.click("#synth-start")
        page.wait_for_selector("#synth-landed", timeout=180_000)
        assert "dataset" in page.inner_text("#synth-landed")
        browser.close()
