"""A person in headless Chromium: from a finished fine-tune's page, "chat with this model" opens the
playground with the base on the left and the fine-tune on the right; one prompt streams into both."""

from __future__ import annotations

import pytest

from tests.browser import chromium_page
from tests.clients import signin_url
from tests.serving.conftest import ServedStudio

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COUNT_UPDATES = """
() => {
  window.__updates = { a: 0, b: 0 };
  for (const col of ["a", "b"]) {
    const options = { subtree: true, childList: true, characterData: true };
    new MutationObserver(() => { window.__updates[col] += 1; })
      .observe(document.getElementById("pg-log-" + col), options);
  }
}
"""


def test_side_by_side_from_a_job_streams_both_columns(served: ServedStudio) -> None:
    # The playground reuses a running deployment of the same fine-tune (other tests of this studio start
    # some): stop them, so this test sees the fine-tune load.
    for dep in served.http.get("/api/v1/deployments").json():
        if dep["job_id"] == served.job_id and dep["status"] in ("loading", "ready"):
            assert served.http.delete(f"/api/v1/deployments/{dep['id']}").status_code == 200
    with chromium_page(1024, 768) as (page, errors):  # a tablet in landscape
        page.goto(signin_url(served.url, served.studio.data_dir))  # the one-time link `ftstudio up` prints
        page.goto(f"{served.url}/jobs/{served.job_id}?lang=en")
        page.click("#chat-with-model")
        page.wait_for_url("**/playground?job_id=*")
        assert page.is_checked("#pg-side-by-side")
        page.click("#pg-settings summary")
        page.select_option("#pg-preset", "sampling")
        page.fill("#gen-max_new_tokens", "48")
        page.fill("#gen-min_new_tokens", "48")  # no early end of turn: both columns stream 48 tokens
        page.evaluate(COUNT_UPDATES)
        page.fill("#pg-input", "我最近总是睡不着，怎么办？")
        # Sent at once, as people do, while the models still load: the message waits for them (it used to
        # be answered "Pick a model first." though both were picked).
        loading = page.eval_on_selector("#pg-status-b", "el => el.classList.contains('status-running')")
        page.click("#pg-send")
        page.wait_for_selector("#pg-status-a.status-succeeded", timeout=120_000)
        page.wait_for_selector("#pg-status-b.status-succeeded", timeout=120_000)
        assert "tiny-llama" in page.inner_text("#pg-status-a")
        assert f"job-{served.job_id}-final" in page.inner_text("#pg-status-b")
        page.wait_for_selector("#pg-log-a .pg-msg.assistant.done", timeout=120_000)
        page.wait_for_selector("#pg-log-b .pg-msg.assistant.done", timeout=120_000)
        updates = page.evaluate("window.__updates")
        texts = [page.inner_text(f"#pg-log-{c} .pg-msg.assistant .pg-text") for c in ("a", "b")]
        assert all(t.strip() and not t.startswith("⚠") for t in texts), texts
        # Streamed: each column's answer grew in many steps, not in one piece at the end.
        assert updates["a"] >= 5 and updates["b"] >= 5, updates
        assert page.inner_text("#pg-log-a .pg-msg.user") == "我最近总是睡不着，怎么办？"
        page.wait_for_selector("#pg-conversations li")
        assert loading, "the fine-tune had loaded before Send: this run did not try sending while loading"
        assert errors == [], errors
