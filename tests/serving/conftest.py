"""One embedded studio (`ftstudio up`: web + local worker that trains AND serves on this CPU) for the
serving tests, with the tiny Llama registered and one short LoRA fine-tune finished on it (its checkpoint
and its final adapter are two different adapters of one base)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.clients import auth_headers
from tests.spine.conftest import tiny_model_dir, write_dataset  # noqa: F401
from tests.spine.embedded_server import EmbeddedStudio

FAST_LORA = {
    "max_steps": 12,
    # A checkpoint every 2 steps, all kept: the adapter tests deploy an early one beside the final one. At
    # 2e-2 (with the job defaults since the training merge: r16, all-linear, 2 accumulation steps) every
    # checkpoint of the tiny model collapsed to one repeated byte token, and different byte tokens decode
    # to the same U+FFFD text, so two adapters that differ looked the same through the API.
    "save_steps": 2,
    "save_total_limit": 10,
    "logging_steps": 1,
    "per_device_train_batch_size": 2,
    "max_seq_length": 128,
    "learning_rate": 3e-3,
    "lora_target_modules": "all-linear",
    "collapse_action": "flag",  # the tiny model's answers are noise: the default (pause) stops the run
}


@dataclass
class ServedStudio:
    studio: EmbeddedStudio
    http: httpx.Client
    model_id: str
    job_id: int
    dataset_id: int

    @property
    def url(self) -> str:
        return self.studio.url


def wait_job(http: httpx.Client, job_id: int, timeout: float = 300.0) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[ServedStudio]:  # noqa: F811
    data_dir = tmp_path_factory.mktemp("serving") / "data"
    studio = EmbeddedStudio(data_dir, "--no-demo-model")
    try:
        studio.wait_ready()
        http = httpx.Client(base_url=studio.url, headers=auth_headers(data_dir), timeout=60)
        response = http.post(
            "/api/v1/models", json={"path": str(tiny_model_dir), "id": "tiny-llama", "name": "tiny-llama"}
        )
        assert response.status_code == 201, response.text
        path = write_dataset(tmp_path_factory.mktemp("serving-data") / "counselling.jsonl")
        with path.open("rb") as handle:
            response = http.post(
                "/api/v1/datasets", files={"file": (path.name, handle)}, data={"val_set_size": "4"}
            )
        assert response.status_code == 201, response.text
        dataset_id = response.json()["id"]
        response = http.post(
            "/api/v1/jobs",
            json={
                "kind": "train",
                "dataset_id": dataset_id,
                "base_model": "tiny-llama",
                "method": "lora",
                "hyperparameters": FAST_LORA,
            },
        )
        assert response.status_code == 201, response.text
        job = wait_job(http, response.json()["id"])
        assert job["status"] == "succeeded", job
        yield ServedStudio(studio, http, "tiny-llama", job["id"], dataset_id)
        http.close()
    finally:
        code = studio.stop()
        assert code == 0, f"ftstudio up did not stop cleanly:\n{studio.output()}"
        assert studio.leftover_processes() == [], "the studio left processes behind (a serving process?)"
