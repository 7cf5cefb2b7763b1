"""A person in headless Chromium: upload the demo dataset, launch a fine-tune from the form, watch the
progress bar move and the job finish. Drives `ftstudio up` (embedded mode) over real HTTP."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from app.demo import DEMO_DATASET_PATH
from tests.browser import chromium_page
from tests.clients import signin_url
from tests.spine.embedded_server import EmbeddedStudio

pytestmark = pytest.mark.browser


def test_upload_launch_and_watch_a_fine_tune(embedded: EmbeddedStudio, tmp_path: Path) -> None:
    extra = [
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    with chromium_page(args=extra) as (page, _):
        page.goto(signin_url(embedded.url, embedded.data_dir))  # the one-time link `ftstudio up` prints
        page.goto(f"{embedded.url}/datasets?lang=en")
        page.set_input_files("#upload-file", str(DEMO_DATASET_PATH))
        page.fill("#upload-name", "demo-from-browser")
        page.click("#upload-button")
        page.wait_for_selector("#upload-ok", timeout=60_000)
        assert "demo-from-browser" in page.inner_text("#dataset-list")

        page.click("#nav-new")
        page.wait_for_selector("#job-form")
        page.select_option(
            "#job-dataset",
            label=page.locator("#job-dataset option", has_text="demo-from-browser").first.inner_text(),
        )
        page.select_option("#job-model", "tiny-llama")
        # LoRA, not the default auto (a full fine-tune of this tiny model): the rate below is for LoRA.
        page.select_option("#job-method", "lora")
        page.fill("#hp-max_steps", "80")
        page.fill("#hp-save_steps", "40")
        page.fill("#hp-max_seq_length", "128")
        page.fill("#hp-learning_rate", "0.003")
        page.click("#job-submit")
        try:
            page.wait_for_url(re.compile(r".*/jobs/\d+$"), timeout=30_000)
        except Exception as exc:
            raise AssertionError(f"the form did not start a job: {page.inner_text('#form-result')}") from exc

        seen: list[float] = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            card = page.locator("#job-status-card")
            status = card.get_attribute("data-status")
            seen.append(float(page.get_attribute("#job-progress-bar", "data-percent") or 0))
            if status in ("succeeded", "failed", "cancelled", "interrupted"):
                break
            time.sleep(0.25)
        page.wait_for_timeout(1500)  # the final summary swap after the `end` event
        page.screenshot(path=str(tmp_path / "job.png"), full_page=True)
        final_status = page.locator("#job-status-card").get_attribute("data-status")
        assert final_status == "succeeded", page.inner_text("#job-summary")
        assert any(0 < p < 100 for p in seen), f"the bar never showed progress between 0 and 100: {seen[:50]}"
        assert float(page.get_attribute("#job-progress-bar", "data-percent")) == 100.0
        assert int(page.get_attribute("#loss-chart", "data-points") or 0) >= 10
        assert "checkpoint-" in page.inner_text("#job-summary")
