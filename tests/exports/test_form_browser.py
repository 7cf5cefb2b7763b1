"""The method-aware form in headless Chromium: fields of other methods are hidden and not sent, the LoRA and
target presets fill the inputs, a refused combination shows its message next to the form."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient

from tests.browser import CHROMIUM, chromium_page
from tests.clients import signin_url
from tests.spine.studio import Studio

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def live_url(studio: Studio, client: TestClient) -> Iterator[str]:
    """The app on a free local port (uvicorn in a thread), against the module's studio database."""
    if studio.mode != "embedded":
        pytest.skip("the page is the same over either database; one browser run is enough")
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)")
    import uvicorn

    from app.web import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_fields_follow_the_method_and_presets_fill(
    live_url: str, studio: Studio, dataset_id: int, tiny_model_id: str
) -> None:
    with chromium_page() as (page, _):
        posted: list[dict[str, list[str]]] = []
        page.on(
            "request",
            lambda r: posted.append(parse_qs(r.post_data or "")) if r.url.endswith("/ui/jobs") else None,
        )
        page.goto(signin_url(live_url))
        page.goto(f"{live_url}/jobs/new?lang=en")
        page.wait_for_selector("#job-form")
        page.click("#job-form details summary")  # open "Advanced"

        # The default method is auto, which shows LoRA's fields (they apply when auto picks LoRA).
        assert page.input_value("#job-method") == "auto"
        assert page.is_visible("#hp-lora_r") and not page.is_visible("#hp-num_virtual_tokens")
        page.select_option("#job-method", "ptuning")
        assert not page.is_visible("#hp-lora_r") and page.is_disabled("#hp-lora_r")
        assert page.is_visible("#hp-num_virtual_tokens") and page.is_visible("#hp-encoder_hidden_size")
        assert not page.is_visible("#lora-preset-basic")
        page.select_option("#job-method", "qlora")
        assert page.is_visible("#hp-quant_bits") and page.is_visible("#hp-lora_alpha")
        assert page.is_visible("#hp-zero_stage")  # QLoRA trains under ZeRO-2/3
        assert not page.is_visible("#hp-num_virtual_tokens") and page.is_disabled("#hp-num_virtual_tokens")
        page.select_option("#job-method", "full")
        assert page.is_visible("#hp-zero_stage") and page.is_visible("#hp-num_processes")
        assert not page.is_visible("#hp-lora_r") and not page.is_visible("#hp-quant_bits")

        page.select_option("#job-method", "lora")
        page.click("#lora-preset-advanced")
        assert page.input_value("#hp-lora_r") == "16" and page.input_value("#hp-lora_alpha") == "32"
        page.click("#lora-preset-basic")
        assert page.input_value("#hp-lora_r") == "8" and page.input_value("#hp-lora_alpha") == "16"
        page.select_option("#lora-target-preset", "attention+mlp")
        assert page.input_value("#hp-lora_target_modules") == "attention+mlp"

        # A refused combination: parameter offload without ZeRO-3.
        page.select_option("#job-model", tiny_model_id)
        page.select_option("#job-method", "full")
        page.fill("#hp-zero_stage", "2")
        page.check("#hp-offload_params")
        page.click("#job-submit")
        page.wait_for_selector("#form-result .alert-error", timeout=15_000)
        message = page.inner_text("#form-result")
        assert "offload_params" in message and "zero_stage 3" in message
        sent = posted[-1]
        assert sent["method"] == ["full"] and sent["offload_params"] == ["on"]
        assert "lora_r" not in sent and "quant_bits" not in sent and "num_virtual_tokens" not in sent
