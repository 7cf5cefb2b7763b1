"""A person in headless Chromium on `ftstudio up`: watches a job train on its dashboard (uPlot charts fed
by the live stream), opens a finished one, picks two jobs on the list and compares them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.browser import chromium_page, require_chromium
from tests.clients import auth_headers, signin_url
from tests.spine.conftest import write_dataset
from tests.spine.embedded_server import EmbeddedStudio

pytestmark = [pytest.mark.browser, pytest.mark.slow]
STEPS = 8


def _submit(http: httpx.Client, dataset_id: int, lr: float, name: str) -> int:
    response = http.post(
        "/api/v1/jobs",
        json={
            "dataset_id": dataset_id,
            "base_model": "tiny-llama",
            "method": "lora",
            "name": name,
            "hyperparameters": {
                "max_steps": STEPS,
                "save_steps": STEPS,
                "logging_steps": 1,
                "eval_steps": 4,
                "max_seq_length": 96,
                "learning_rate": lr,
            },
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_dashboard_charts_and_compare_in_a_browser(embedded: EmbeddedStudio, tmp_path: Path) -> None:
    require_chromium()  # before two jobs train
    http = httpx.Client(base_url=embedded.url, headers=auth_headers(embedded.data_dir), timeout=30)
    with write_dataset(tmp_path / "d.jsonl").open("rb") as handle:
        dataset = http.post(
            "/api/v1/datasets", files={"file": ("d.jsonl", handle)}, data={"val_set_size": "4"}
        )
    assert dataset.status_code == 201, dataset.text
    first = _submit(http, dataset.json()["id"], 3e-3, "dash-a")
    second = _submit(http, dataset.json()["id"], 1e-3, "dash-b")

    with chromium_page(1280, 1600, args=["--no-first-run"]) as (page, errors):
        page.goto(signin_url(embedded.url, embedded.data_dir))  # pages need sign-in: the one-time link
        # Opened while the first job is queued or starting: the charts grow from the live stream.
        page.goto(f"{embedded.url}/jobs/{first}?lang=en")
        page.wait_for_selector("#loss-chart canvas", timeout=30_000)
        assert page.get_attribute("#loss-chart", "data-series") == "3"  # raw, smoothed, eval
        grew: set[str] = set()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and page.get_attribute("#dashboard", "data-ended") != "true":
            grew.add(page.get_attribute("#loss-chart", "data-points") or "0")
            time.sleep(0.3)
        assert page.get_attribute("#dashboard", "data-ended") == "true", "the stream never ended"
        assert int(page.get_attribute("#loss-chart", "data-points")) == STEPS
        assert len(grew) > 1, f"the chart did not grow while training: {grew}"
        assert int(page.get_attribute("#loss-chart", "data-eval-points")) >= 1
        for chart in ("#lr-chart", "#grad-chart", "#tps-chart"):
            assert page.locator(f"{chart} canvas").count() == 1
            assert int(page.get_attribute(chart, "data-points")) == STEPS
        assert page.locator("#loss-chart .u-legend .u-series").count() == 4  # x + three series
        page.fill("#smoothing", "0.9")  # the slider redraws without errors
        # The measured peak arrives with the last progress event and sits beside the planner's prediction.
        assert "MiB" in page.inner_text("#memory-measured") and "%" in page.inner_text("#memory-ratio")
        # ... the prediction for the workers' devices: on this CPU-only studio the CPU's, not the GPU's.
        predicted = http.get(f"/api/v1/jobs/{first}").json()["result"]["predicted_peak_bytes"]
        assert predicted["cpu"] != predicted["gpu"]
        assert int(page.get_attribute("#memory-measured", "data-planned")) == predicted["cpu"]
        page.wait_for_selector("#job-log-lines[data-lines]:not([data-lines='0'])", timeout=15_000)
        assert page.get_attribute("#clone-link", "href") == f"/jobs/new?clone_from={first}"
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

        # The list: wait for the second job to end, pick both, compare.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if http.get(f"/api/v1/jobs/{second}").json()["status"] not in ("queued", "running"):
                break
            time.sleep(1)
        page.goto(f"{embedded.url}/jobs?lang=en")
        assert page.is_disabled("#compare-button")
        page.check(f"input.compare-pick[value='{first}']")
        page.check(f"input.compare-pick[value='{second}']")
        page.click("#compare-button")
        page.wait_for_url("**/jobs/compare?ids=*", timeout=15_000)
        page.wait_for_selector("#compare-chart[data-runs='2'] canvas", timeout=15_000)
        assert page.get_attribute("#compare-chart", "data-series") == "4"  # loss + eval loss per run
        assert page.locator("tr.differs[data-key='hyperparameters.learning_rate']").count() == 1
        assert page.is_visible("tr.same[data-key='method']")
        page.check("#only-differences")
        assert page.is_hidden("tr.same[data-key='method']")
        assert page.is_visible("tr.differs[data-key='hyperparameters.learning_rate']")
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
        assert errors == [], errors
