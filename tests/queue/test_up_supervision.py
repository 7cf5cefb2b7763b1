"""`ftstudio up` supervises its worker (issue 9's findings): kill -9 of the local worker mid-training
restarts the worker and the job resumes from its checkpoint; SIGTERM to `ftstudio up` leaves nothing."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.clients import auth_headers
from tests.queue.helpers import wait_until
from tests.spine.conftest import write_dataset
from tests.spine.embedded_server import EmbeddedStudio
from tests.spine.studio import processes_of_job

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[EmbeddedStudio]:
    studio = EmbeddedStudio(tmp_path_factory.mktemp("up") / "data", "--no-demo-model")
    try:
        studio.wait_ready()
        yield studio
    finally:
        if studio.process.poll() is None:
            studio.stop()


def _online_workers(http: httpx.Client) -> list[dict]:
    return [w for w in http.get("/api/v1/admin/workers").json() if w["status"] == "online"]


def test_kill_9_of_the_local_worker_restarts_it_and_the_job_resumes(
    up: EmbeddedStudio, tiny_model_dir: Path, tmp_path: Path
) -> None:
    http = httpx.Client(base_url=up.url, headers=auth_headers(up.data_dir), timeout=30)
    assert http.post("/api/v1/models", json={"path": str(tiny_model_dir), "id": "tiny-up"}).status_code == 201
    path = write_dataset(tmp_path / "rows.jsonl")
    with path.open("rb") as handle:
        dataset = http.post(
            "/api/v1/datasets", files={"file": (path.name, handle)}, data={"val_set_size": "0"}
        )
    hp = {"max_steps": 24, "save_steps": 4, "logging_steps": 1, "max_seq_length": 64}
    job_id = http.post(
        "/api/v1/jobs",
        json={
            "dataset_id": dataset.json()["id"],
            "base_model": "tiny-up",
            "method": "lora",
            "hyperparameters": hp,
        },
    ).json()["id"]
    wait_until(lambda: http.get(f"/api/v1/jobs/{job_id}").json()["progress"]["step"] >= 6, 300, "step 6")
    (worker,) = [w for w in _online_workers(http) if w["current_job_id"] == job_id]
    os.kill(worker["pid"], signal.SIGKILL)
    # The training child stops with its worker instead of training on alone.
    wait_until(lambda: not processes_of_job(up.data_dir, job_id), 10, "the child to stop", interval=0.2)
    # `up` notices, re-queues the job and starts a new worker, which resumes it.
    done = wait_until(
        lambda: (j := http.get(f"/api/v1/jobs/{job_id}").json())["status"] in ("succeeded", "failed") and j,
        300,
        "the job to finish on the restarted worker",
    )
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 2 and done["worker"] != worker["id"]
    assert done["config"]["resume_from_checkpoint"]
    steps = [m["step"] for m in http.get(f"/api/v1/jobs/{job_id}/metrics").json() if m["kind"] == "train"]
    assert steps == list(range(1, 25)), "every step exactly once"
    assert [w["pid"] for w in _online_workers(http)] != [worker["pid"]]
    # A job submitted afterwards runs too (it stayed queued forever before).
    again = http.post(
        "/api/v1/jobs",
        json={
            "dataset_id": dataset.json()["id"],
            "base_model": "tiny-up",
            "method": "lora",
            "hyperparameters": {**hp, "max_steps": 2},
        },
    ).json()["id"]
    wait_until(lambda: http.get(f"/api/v1/jobs/{again}").json()["status"] == "succeeded", 300, "a later job")


def test_sigterm_to_ftstudio_up_stops_the_web_and_the_worker(up: EmbeddedStudio) -> None:
    assert up.leftover_processes(), "the local worker runs"
    up.process.send_signal(signal.SIGTERM)  # what docker stop and systemd send
    up.process.wait(timeout=90)
    wait_until(lambda: not up.leftover_processes(), 30, "every process of the studio to end")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{up.url}/api/v1/health", timeout=2)
