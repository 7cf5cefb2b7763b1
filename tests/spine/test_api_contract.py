"""The public REST contract, through the real app and a real database (SQLite and PostgreSQL).
No worker runs here: jobs that would need one go to a queue nobody listens to."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.spine.conftest import write_dataset


def test_health_and_openapi_docs(client: TestClient) -> None:
    assert client.get("/api/v1/health").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/datasets",
        "/api/v1/models",
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}/cancel",
        "/api/v1/jobs/{job_id}/metrics",
        "/api/v1/jobs/{job_id}/events",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200


def test_upload_lists_and_reads_a_dataset(client: TestClient, dataset_id: int) -> None:
    listed = client.get("/api/v1/datasets").json()
    assert dataset_id in [d["id"] for d in listed]
    dataset = client.get(f"/api/v1/datasets/{dataset_id}").json()
    for key in ("id", "version", "format", "encoding", "num_rows", "num_invalid", "duplicates", "status"):
        assert key in dataset, key
    assert dataset["format"] == "messages"
    assert dataset["num_rows"] == 24 and dataset["num_val"] == 4 and dataset["num_train"] == 20
    assert set(dataset["duplicates"]) >= {"exact", "near"}


def test_unknown_ids_are_404_with_a_message(client: TestClient) -> None:
    for path in (
        "/api/v1/datasets/999999",
        "/api/v1/jobs/999999",
        "/api/v1/models/nope",
        "/api/v1/jobs/999999/metrics",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert (
            "does not exist" in response.json()["detail"] or "not in the catalog" in response.json()["detail"]
        )
    assert client.post("/api/v1/jobs/999999/cancel").status_code == 404


def test_invalid_hyperparameters_are_422_naming_the_field(
    client: TestClient, dataset_id: int, tiny_model_id: str
) -> None:
    base = {"kind": "train", "dataset_id": dataset_id, "base_model": tiny_model_id, "method": "lora"}
    cases = {"learning_rate": -1, "lora_r": 0, "per_device_train_batch_size": "many", "no_such_knob": 1}
    for name, value in cases.items():
        response = client.post("/api/v1/jobs", json={**base, "hyperparameters": {name: value}})
        assert response.status_code == 422, (name, response.text)
        body = response.json()
        assert name in body["detail"] and body["field"] == f"hyperparameters.{name}"
    response = client.post("/api/v1/jobs", json={**base, "method": "magic"})
    assert response.status_code == 422 and response.json()["field"] == "method"
    response = client.post("/api/v1/jobs", json={**base, "base_model": "no-such-model"})
    assert response.status_code == 404
    response = client.post("/api/v1/jobs", json={**base, "dataset_id": 424242})
    assert response.status_code == 404
    response = client.post("/api/v1/jobs", json={k: v for k, v in base.items() if k != "dataset_id"})
    assert response.status_code == 422 and response.json()["field"] == "dataset_id"


def test_a_queued_job_can_be_cancelled_before_it_starts(
    client: TestClient, dataset_id: int, tiny_model_id: str
) -> None:
    response = client.post(
        "/api/v1/jobs",
        json={
            "kind": "train",
            "dataset_id": dataset_id,
            "base_model": tiny_model_id,
            "method": "lora",
            # The test's default queue: no worker listens here (an unknown queue is a 422, see below).
            "hyperparameters": {"max_steps": 3},
        },
    )
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "queued" and job["progress"]["step"] == 0
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    again = client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "already ended" in again.json()["detail"]


def test_bad_uploads_get_a_clear_4xx_and_leave_nothing_behind(
    client: TestClient, studio, tmp_path: Path
) -> None:
    before = client.get("/api/v1/datasets").json()
    cases = [
        ("../../etc/passwd", b'{"messages": []}', 422, "path"),
        ("empty.jsonl", b"", 422, "empty"),
        ("binary.jsonl", bytes(range(256)) * 10, 422, None),
        ("broken.json", b'[{"instruction": "a", "output": "b"},', 422, None),
    ]
    for name, content, code, words in cases:
        response = client.post("/api/v1/datasets", files={"file": (name, content)})
        assert response.status_code == code, (name, response.text)
        assert response.json()["detail"], name
        if words:
            assert words in response.json()["detail"].lower(), (name, response.json())
    assert client.get("/api/v1/datasets").json() == before
    assert list((studio.data_dir / "uploads").iterdir()) == []


def test_upload_over_the_size_limit_is_413(client: TestClient, studio, monkeypatch, tmp_path: Path) -> None:
    from app.settings import reset_settings_cache

    monkeypatch.setenv("FTSTUDIO_MAX_UPLOAD_BYTES", "1000")
    reset_settings_cache()
    try:
        path = write_dataset(tmp_path / "big.jsonl", repeats=20)
        with path.open("rb") as handle:
            response = client.post("/api/v1/datasets", files={"file": (path.name, handle)})
        assert response.status_code == 413 and "upload limit" in response.json()["detail"]
        assert list((studio.data_dir / "uploads").iterdir()) == []
    finally:
        monkeypatch.delenv("FTSTUDIO_MAX_UPLOAD_BYTES")
        reset_settings_cache()


def test_pages_render_in_both_languages(client: TestClient, dataset_id: int, tiny_model_id: str) -> None:
    for lang, word in (("zh", "数据集"), ("en", "Datasets")):
        for path in ("/datasets", "/models", "/jobs/new", "/jobs", f"/datasets/{dataset_id}"):
            response = client.get(f"{path}?lang={lang}")
            assert response.status_code == 200, path
            assert word in response.text, (lang, path)
    form = client.get("/jobs/new?lang=en").text
    for name in (
        "num_train_epochs",
        "max_steps",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "learning_rate",
        "warmup_steps",
        "lr_scheduler_type",
        "logging_steps",
        "save_steps",
        "save_total_limit",
        "seed",
        "max_seq_length",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "lora_target_modules",
    ):
        assert f'name="{name}"' in form, name
    assert "tiny-llama" in form
    missing = client.get("/jobs/987654?lang=en")
    assert missing.status_code == 404 and "does not exist" in missing.text


def test_registering_a_model_checks_the_path(client: TestClient, tmp_path: Path) -> None:
    response = client.post("/api/v1/models", json={"path": str(tmp_path)})
    assert response.status_code == 422 and "config.json" in response.json()["detail"]
    response = client.post("/api/v1/models", json={"path": "not a hub id or folder"})
    assert response.status_code == 422 and response.json()["field"] == "path"
    hub = client.post("/api/v1/models", json={"path": "Qwen/Qwen2-0.5B-Instruct"})
    assert hub.status_code == 201 and hub.json()["source"] == "hub"
    assert client.post("/api/v1/models", json={"path": "Qwen/Qwen2-0.5B-Instruct"}).status_code == 409
