"""Through a real Celery worker and a real training child (tiny model): the job page's SSE stream gets
every metric row while the job trains, woken by Redis pub/sub in real mode (PostgreSQL + Redis) and by
polling in embedded mode, and the worker sends the signed `job.succeeded` webhook to a local server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import job_events, sse_events
from tests.spine.conftest import write_dataset
from tests.spine.studio import Studio, wait_for_job

pytestmark = pytest.mark.slow
SECRET = "e2e-webhook-secret"


@pytest.fixture(scope="module")
def live_worker(studio: Studio) -> Studio:
    studio.env.update({"FTSTUDIO_WEBHOOK_SECRET": SECRET, "FTSTUDIO_WEBHOOK_BACKOFF_SECONDS": "0.2"})
    studio.start_worker()
    return studio


def test_training_streams_live_and_notifies(
    client: Any, live_worker: Studio, tiny_model_dir: Path, receiver_factory: Any, tmp_path: Path
) -> None:
    response = client.post("/api/v1/models", json={"path": str(tiny_model_dir), "id": "tiny-llama"})
    assert response.status_code == 201, response.text
    with write_dataset(tmp_path / "d.jsonl").open("rb") as handle:
        dataset = client.post(
            "/api/v1/datasets", files={"file": ("d.jsonl", handle)}, data={"val_set_size": "4"}
        )
    assert dataset.status_code == 201, dataset.text
    server = receiver_factory(SECRET)
    job = client.post(
        "/api/v1/jobs",
        json={
            "dataset_id": dataset.json()["id"],
            "base_model": "tiny-llama",
            "method": "lora",
            "webhook_url": server.url,
            "hyperparameters": {
                "max_steps": 10,
                "save_steps": 10,
                "logging_steps": 1,
                "eval_steps": 5,
                "max_seq_length": 96,
                "per_device_train_batch_size": 2,
            },
        },
    )
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    assert job.json()["config"]["webhook_url"] == server.url
    metrics: list[dict[str, Any]] = []
    hello = end = None
    # Opened while the job is still queued: every metric arrives live, not from a replay.
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream:
        for kind, data in sse_events(stream.iter_lines()):
            if kind == "stream":
                hello = data
            elif kind == "metric":
                metrics.append(data)
            elif kind == "end":
                end = data
                break
    done = wait_for_job(client, job_id, {"succeeded"}, timeout=300)
    assert end and end["status"] == "succeeded", end
    train = [m for m in metrics if m["kind"] == "train"]
    assert [m["step"] for m in train] == list(range(1, 11)), [m["step"] for m in train]
    assert all(m["loss"] is not None and m["learning_rate"] is not None for m in train)
    assert any(m["eval_loss"] is not None for m in metrics), "eval rows at steps 5 and 10"
    if live_worker.mode == "real":
        assert hello == {"wake": "pubsub"}
        assert end["wakeups"]["pubsub"] >= 3, end  # the worker's messages woke the stream
    else:
        assert hello == {"wake": "poll"} and end["wakeups"]["pubsub"] == 0
    # The worker's webhook: signed, one delivery, recorded on the job.
    # Deliveries run on a thread of the worker process: give it a moment.
    for _ in range(40):
        if server.requests and job_events(job_id, "webhook"):
            break
        time.sleep(0.25)
    assert len(server.requests) == 1 and server.requests[0]["valid"] is True
    body = server.requests[0]["body"]
    assert body["event"] == "job.succeeded" and body["job"]["id"] == job_id
    assert body["job"]["step"] == done["progress"]["step"] == 10
    assert job_events(job_id, "webhook")[0][1]["ok"] is True
    logs = client.get(f"/api/v1/jobs/{job_id}/logs?tail=20").json()
    assert logs["available"] and logs["lines"], logs
