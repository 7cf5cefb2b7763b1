"""Fixtures of the scorecard tests: the spine's real studio (both modes), a short real LoRA fine-tune, and
the shared MMCU-layout sample."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.spine.conftest import client, dataset_id, running_worker, studio, tiny_model_dir, tiny_model_id  # noqa: F401
from tests.spine.studio import Studio, wait_for_job

# The repo's parent folder holds shared/ (tests/evaluations_api -> tests -> repo).
MMCU_SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mmcu-layout-sample"

# A few steps are enough: the comparison needs a fine-tune that exists, not a good one.
SHORT_TRAIN = {
    "max_steps": 4,
    "save_steps": 4,
    "logging_steps": 1,
    "per_device_train_batch_size": 2,
    "max_seq_length": 96,
    "learning_rate": 5e-3,
    "lora_target_modules": "all-linear",
}


@pytest.fixture(scope="session")
def mmcu_sample() -> Path:
    if not (MMCU_SAMPLE / "test").is_dir():
        pytest.skip(f"shared MMCU-layout sample not found at {MMCU_SAMPLE} (the repo's ../shared/data)")
    return MMCU_SAMPLE.resolve()


@pytest.fixture(scope="module")
def trained_job(client: TestClient, running_worker: Studio, dataset_id: int, tiny_model_id: str) -> dict:  # noqa: F811
    response = client.post(
        "/api/v1/jobs",
        json={
            "kind": "train",
            "dataset_id": dataset_id,
            "base_model": tiny_model_id,
            "method": "lora",
            "hyperparameters": SHORT_TRAIN,
        },
    )
    assert response.status_code == 201, response.text
    return wait_for_job(client, response.json()["id"], {"succeeded"}, timeout=300)
