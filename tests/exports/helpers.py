"""Helpers of the export tests (fixtures live in conftest.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.spine.studio import wait_for_job

FAST = {
    "max_steps": 6,
    "save_steps": 3,
    "logging_steps": 1,
    "per_device_train_batch_size": 2,
    "max_seq_length": 96,
    "learning_rate": 5e-3,
    "lora_target_modules": "all-linear",
}


def submit_train(
    client: TestClient,
    dataset_id: int,
    model_id: str,
    method: str = "lora",
    name: str | None = None,
    **hp: object,
) -> dict:
    body = {"dataset_id": dataset_id, "base_model": model_id, "method": method, "hyperparameters": hp}
    response = client.post("/api/v1/jobs", json={**body, "name": name})
    assert response.status_code == 201, response.text
    return response.json()


__all__ = ["FAST", "submit_train", "wait_for_job"]
