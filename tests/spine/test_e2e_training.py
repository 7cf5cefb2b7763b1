"""End to end through the real app, a real Celery worker process and a real training child:
PostgreSQL + Redis ("real") and SQLite + the serverless broker ("embedded"), the same code path."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient

from tests.spine.studio import Studio, processes_of_job, wait_for_job

FAST = {
    "max_steps": 12,
    "save_steps": 6,
    "logging_steps": 1,
    "per_device_train_batch_size": 2,
    "max_seq_length": 128,
    "learning_rate": 5e-3,
    "lora_target_modules": "all-linear",
    # The tiny random model's answers are noise by construction; the default collapse action (pause) would
    # stop these runs at the first quick check. The watch still runs and records; it does not pause here.
    "collapse_action": "flag",
}


def _submit(client: TestClient, dataset_id: int, model_id: str, **hyperparameters: object) -> dict:
    response = client.post(
        "/api/v1/jobs",
        json={
            "kind": "train",
            "dataset_id": dataset_id,
            "base_model": model_id,
            "method": "lora",
            "hyperparameters": hyperparameters,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_lora_job_trains_to_success_with_metrics_and_checkpoints(
    client: TestClient, running_worker: Studio, dataset_id: int, tiny_model_id: str
) -> None:
    job = _submit(client, dataset_id, tiny_model_id, **FAST)
    done = wait_for_job(client, job["id"], {"succeeded"}, timeout=300)
    assert done["progress"]["step"] == done["progress"]["total_steps"] == 12
    assert done["progress"]["percent"] == 100.0 and done["error"] is None
    assert done["worker_id"] and done["started_at"] and done["finished_at"]
    steps = [c["step"] for c in done["checkpoints"]]
    assert 6 in steps or 12 in steps, done["checkpoints"]
    assert all(c["size_bytes"] > 0 for c in done["checkpoints"] if not c["deleted"])
    metrics = client.get(f"/api/v1/jobs/{job['id']}/metrics").json()
    train = [m for m in metrics if m["kind"] == "train"]
    assert len(train) >= 10 and all(m["loss"] is not None for m in train)
    assert [m["step"] for m in train] == sorted(m["step"] for m in train)
    assert any(m["learning_rate"] for m in train)
    assert done["peak_memory_bytes"] and done["peak_memory_bytes"] > 0
    # The planner's prediction was stored at submit time, to sit beside the measured peak.
    assert done["result"]["predicted_peak_bytes"]["cpu"] > 0
    # The job records exactly which dataset version and model it trained on.
    assert done["dataset_version_id"] and done["config"]["dataset"]["version"] == 1
    assert done["config"]["base_model"]["id"] == tiny_model_id
    # Server-sent events replay the finished job and end.
    with client.stream("GET", f"/api/v1/jobs/{job['id']}/events") as stream:
        text = "".join(stream.iter_text())
    assert "event: metric" in text and "event: progress" in text and "event: end" in text
    end = text.split("event: end\ndata: ", 1)[1].split("\n", 1)[0]
    assert json.loads(end)["status"] == "succeeded"
    # The page shows it.
    page = client.get(f"/jobs/{job['id']}?lang=en").text
    assert "succeeded" in page and "checkpoint-" in page


def test_cancel_stops_a_running_job_within_seconds_and_leaves_no_process(
    client: TestClient, running_worker: Studio, dataset_id: int, tiny_model_id: str
) -> None:
    job = _submit(client, dataset_id, tiny_model_id, **{**FAST, "max_steps": 100000, "save_steps": 100000})
    wait_for_job(client, job["id"], {"running"}, timeout=120, predicate=lambda j: j["progress"]["step"] >= 2)
    assert processes_of_job(running_worker.data_dir, job["id"]), "the training child should be running"
    started = time.monotonic()
    response = client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 200 and response.json()["cancel_requested"]
    done = wait_for_job(client, job["id"], {"cancelled"}, timeout=60)
    assert time.monotonic() - started < 30
    assert done["finished_at"] and done["error"] is None
    # It saved what it had: a checkpoint at the step where it stopped.
    assert done["checkpoints"] and done["checkpoints"][-1]["step"] >= 2
    time.sleep(0.5)
    assert processes_of_job(running_worker.data_dir, job["id"]) == []


def test_resume_continues_from_the_last_checkpoint(
    client: TestClient, running_worker: Studio, dataset_id: int, tiny_model_id: str
) -> None:
    first = _submit(client, dataset_id, tiny_model_id, **{**FAST, "max_steps": 8, "save_steps": 4})
    wait_for_job(client, first["id"], {"succeeded"}, timeout=300)
    response = client.post(f"/api/v1/jobs/{first['id']}/resume", json={"checkpoint_step": 4})
    assert response.status_code == 201, response.text
    resumed = wait_for_job(client, response.json()["id"], {"succeeded"}, timeout=300)
    assert resumed["parent_job_id"] == first["id"]
    metrics = client.get(f"/api/v1/jobs/{resumed['id']}/metrics").json()
    assert min(m["step"] for m in metrics if m["kind"] == "train") == 5


def test_a_dataset_the_tokenizer_leaves_empty_fails_with_a_readable_error(
    client: TestClient, running_worker: Studio, tiny_model_id: str, tmp_path
) -> None:
    # Every user turn is far longer than max_seq_length and dialogues are cut, not windowed, at the
    # limit: no assistant token survives, so there is nothing to learn from.
    path = tmp_path / "too-long.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": "很长的问题" * 200},
                {"role": "assistant", "content": "好"},
            ]
        }
        for _ in range(6)
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    with path.open("rb") as handle:
        dataset = client.post("/api/v1/datasets", files={"file": (path.name, handle)}).json()
    job = _submit(
        client, dataset["id"], tiny_model_id, max_steps=5, max_seq_length=16, split_long_dialogues=False
    )
    done = wait_for_job(client, job["id"], {"failed"}, timeout=180)
    assert done["error"] and "Traceback" not in done["error"]
    assert "max_seq_length" in done["error"] or "token" in done["error"].lower()
    assert processes_of_job(running_worker.data_dir, job["id"]) == []
