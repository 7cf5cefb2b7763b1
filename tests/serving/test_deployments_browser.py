"""A person in headless Chromium deploys a finished fine-tune from the Deployments page, watches it become
ready without reloading (it stayed "loading" until a manual reload), takes an API key and uses it on the
OpenAI-compatible /v1 endpoint, then undeploys."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.browser import chromium_page
from tests.clients import signin_url
from tests.serving.conftest import ServedStudio

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_deploy_from_the_page_then_call_it_with_the_key(served: ServedStudio) -> None:
    with chromium_page() as (page, errors):
        page.goto(signin_url(served.url, served.studio.data_dir))
        before = {d["id"] for d in served.http.get("/api/v1/deployments").json()}
        page.goto(f"{served.url}/deployments?lang=en")
        page.select_option("#deploy-source", json.dumps({"job_id": served.job_id}))
        page.fill("#deploy-system", "You are a kind counsellor.")
        page.click("#deploy-button")
        # The row appears (the page reloads after the POST) and turns ready by itself. Other tests of this
        # studio deploy the same fine-tune too: the row is found by the new deployment's id.
        created: list[dict] = []
        deadline = time.monotonic() + 30
        while not created and time.monotonic() < deadline:
            created = [d for d in served.http.get("/api/v1/deployments").json() if d["id"] not in before]
            time.sleep(0.2)
        assert len(created) == 1 and created[0]["job_id"] == served.job_id, created
        row = f'#deployments-table tr[data-deployment-id="{created[0]["id"]}"]'
        page.wait_for_selector(f"{row} .status-ready", timeout=120_000)
        page.click(f"{row} .dep-key")
        key_out = page.locator(f"{row} .dep-key-out")
        key_out.filter(has_text="fts-").wait_for(timeout=15_000)
        key = key_out.inner_text().strip()
        served_name = page.inner_text(f"{row} code").strip()
        body = {"model": served_name, "messages": [{"role": "user", "content": "你好"}], "max_tokens": 8}
        headers = {"Authorization": f"Bearer {key}"}
        answer = httpx.post(f"{served.url}/v1/chat/completions", json=body, headers=headers, timeout=120)
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["finish_reason"] in ("stop", "length")
        page.click(f"{row} .dep-stop")
        page.wait_for_selector(f"{row} .status-stopped", timeout=60_000)
        assert errors == [], errors
