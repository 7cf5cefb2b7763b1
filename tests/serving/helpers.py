"""How a test deploys a model on a running studio and talks to it with the official `openai` client.

    deployment = deploy(http, model_id="tiny-llama")          # POST /api/v1/deployments, waits for ready
    key = new_key(http, deployment["id"])                      # POST /api/v1/deployments/{id}/keys
    client = openai_client(studio_url, key)                   # openai.OpenAI(base_url=studio_url + "/v1")
    client.chat.completions.create(model=deployment["served_model_name"], messages=[...])

``http`` is an ``httpx.Client(base_url=studio_url, headers=auth_headers(data_dir))``.
"""

from __future__ import annotations

import time
from typing import Any

import httpx


def deploy(http: httpx.Client, *, timeout: float = 120.0, wait_for: str = "ready", **source: Any) -> dict:
    response = http.post("/api/v1/deployments", json=source)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) >= {"id", "status", "served_model_name"}
    return wait_status(http, created["id"], {wait_for}, timeout=timeout)


def wait_status(http: httpx.Client, deployment_id: int, statuses: set[str], timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    dep: dict = {}
    while time.monotonic() < deadline:
        dep = http.get(f"/api/v1/deployments/{deployment_id}").json()
        if dep["status"] in statuses:
            return dep
        if dep["status"] in ("failed", "stopped") and dep["status"] not in statuses:
            raise AssertionError(f"deployment {deployment_id} is {dep['status']}: {dep.get('error')}")
        time.sleep(0.3)
    raise AssertionError(f"deployment {deployment_id} did not reach {statuses} in {timeout}s: {dep}")


def new_key(http: httpx.Client, deployment_id: int) -> str:
    response = http.post(f"/api/v1/deployments/{deployment_id}/keys")
    assert response.status_code == 201, response.text
    return response.json()["key"]


def openai_client(studio_url: str, key: str):  # type: ignore[no-untyped-def]
    import openai

    return openai.OpenAI(base_url=f"{studio_url}/v1", api_key=key, max_retries=0, timeout=120)
