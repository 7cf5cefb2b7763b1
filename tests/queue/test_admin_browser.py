"""The admin page in headless Chromium against a real web process and a real worker: the worker is listed
with its device, and a queued job moved to the top starts next."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.migrations import REPO_ROOT
from tests.browser import chromium_page, require_chromium
from tests.clients import signin_url
from tests.queue.helpers import add_sleep_jobs, job_row, start_worker, wait_registered, wait_until
from tests.spine.embedded_server import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_admin_page_lists_workers_and_a_job_moved_to_the_top_starts_next(
    embedded_studio, tmp_path: Path
) -> None:
    require_chromium()  # before the worker starts
    import httpx

    studio = embedded_studio
    worker = start_worker(studio, "worker")
    worker_id = wait_registered(worker)
    port = free_port()
    env = {**studio.env, "FTSTUDIO_DATA_DIR": str(studio.data_dir)}
    web = subprocess.Popen(
        [sys.executable, "-m", "app.cli.main", "web", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=(tmp_path / "web.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    studio.cleanup.append(web)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 60, "the web server")
    (busy,) = add_sleep_jobs(1, steps=60, seconds=0.5)  # keeps the only worker busy while we reorder
    wait_until(lambda: job_row(busy)["status"] == "running", 60, "the first job to start")
    first, second, third = add_sleep_jobs(3)
    with chromium_page() as (page, _):
        page.goto(signin_url(url, studio.data_dir))  # pages need sign-in: the one-time link `up` prints
        page.goto(f"{url}/admin?lang=en")
        row = page.locator(f'#admin-workers tr[data-worker-id="{worker_id}"]')
        assert "online" in row.inner_text() and "CPU" in row.inner_text()
        assert page.locator(f'#admin-running tr[data-job-id="{busy}"]').count() == 1
        order = [int(r.get_attribute("data-job-id")) for r in page.locator("#admin-queue tbody tr").all()]
        assert order == [first, second, third]
        page.locator(f'#admin-queue tr[data-job-id="{third}"] button.move-top').click()
        # Polled from Python: wait_for_function evaluates a string, which the page's CSP (no eval) refuses.
        first_row = page.locator("#admin-queue tbody tr").first
        wait_until(lambda: first_row.get_attribute("data-job-id") == str(third), 15, "the moved job on top")
        assert os.environ.get("FTSTUDIO_ENABLE_TEST_JOB_KINDS") == "1"
        assert job_row(busy)["status"] == "running", "reordered while the worker was still busy"
    wait_until(
        lambda: all(job_row(j)["status"] == "succeeded" for j in (first, second, third)), 120, "the queue"
    )
    started = sorted((job_row(j)["started_at"], j) for j in (first, second, third))
    assert [j for _, j in started] == [third, first, second], "the job moved to the top started next"
