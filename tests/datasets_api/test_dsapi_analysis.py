"""The analysis job on a real worker: status while it runs, the token-length histogram and overlap it stores
(checked against the same functions run here), loss-token previews (stored and on demand), a failure that
leaves the dataset usable, and a training job that reads exactly the version it named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.spine.conftest import write_dataset
from tests.spine.studio import Studio, wait_for_job

MAX_LEN = 64


def once(studio: Studio) -> None:
    """Steps independent of the database and broker run in one studio only (the folder's time budget)."""
    if studio.mode == "real":
        pytest.skip("independent of the DB/broker: runs once, in the embedded studio")


@pytest.fixture(scope="module")
def analysed(client: TestClient, running_worker: Studio, tiny_model_id: str, tmp_path_factory) -> dict:
    path = write_dataset(tmp_path_factory.mktemp("analysis") / "counselling.jsonl")
    dataset = client.post(
        "/api/v1/datasets", files={"file": (path.name, path.read_bytes())}, data={"val_set_size": "4"}
    ).json()
    first = client.get(f"/api/v1/datasets/{dataset['id']}/rows", params={"page_size": 2}).json()["rows"]
    response = client.post(
        f"/api/v1/datasets/{dataset['id']}/analyse",
        json={
            "model": tiny_model_id,
            "max_seq_length": MAX_LEN,
            "bins": 10,
            "preview_row_ids": [first[0]["id"]],
        },
    )
    assert response.status_code == 202, response.text
    job = response.json()
    during = client.get(f"/api/v1/datasets/{dataset['id']}").json()
    again = client.post(f"/api/v1/datasets/{dataset['id']}/analyse", json={"model": tiny_model_id})
    done = wait_for_job(client, job["id"], {"succeeded"}, timeout=300)
    return {"dataset": dataset, "job": job, "during": during, "again": again, "done": done,
            "rows": first}  # fmt: skip


def _split(client: TestClient, dataset_id: int, split: str) -> list[dict]:
    page = client.get(f"/api/v1/datasets/{dataset_id}/rows", params={"split": split, "page_size": 200}).json()
    return [{"id": r["id"], "messages": r["messages"]} for r in page["rows"]]


def test_analysis_runs_as_a_job_and_fills_the_histogram(
    client: TestClient, analysed: dict, tiny_model_dir: Path
) -> None:
    from app.datasets.ingest import train_val_overlap
    from worker.datasets.token_stats import token_length_stats

    dataset_id = analysed["dataset"]["id"]
    assert analysed["job"]["kind"] == "dataset_analysis"
    assert analysed["job"]["dataset_version_id"] == analysed["dataset"]["version_id"]
    assert analysed["during"]["status"] == "analysing"
    assert analysed["during"]["analysis"]["job_id"] == analysed["job"]["id"]
    assert analysed["again"].status_code == 409
    assert analysed["done"]["progress"]["percent"] == 100.0
    body = client.get(f"/api/v1/datasets/{dataset_id}").json()
    assert body["status"] == "ready" and body["analysis"]["status"] == "succeeded"
    result = body["analysis"]["result"]
    train, val = _split(client, dataset_id, "train"), _split(client, dataset_id, "val")
    expected = token_length_stats(train + val, str(tiny_model_dir), max_seq_length=MAX_LEN, bins=10)
    tokens = result["tokens"]
    assert tokens["histogram"] == expected["histogram"] and sum(tokens["histogram"]["counts"]) == 24
    assert tokens["num_over_max"] == expected["num_over_max"] and tokens["max_seq_length"] == MAX_LEN
    overlap = train_val_overlap(train, val)
    assert (result["overlap"]["exact"], result["overlap"]["near"]) == (overlap["exact"], overlap["near"])
    assert result["stats"]["rows"] == 24 and "duplicates" in result
    page = client.get(f"/datasets/{dataset_id}?lang=en").text
    assert 'id="token-histogram"' in page and page.count('class="bar"') >= 10


def test_loss_preview_stored_and_on_demand(
    client: TestClient, analysed: dict, tiny_model_id: str, tiny_model_dir: Path, studio: Studio
) -> None:
    once(studio)
    from worker.datasets.token_stats import render_loss_preview

    dataset_id = analysed["dataset"]["id"]
    stored_id, other = analysed["rows"][0], analysed["rows"][1]
    url = f"/api/v1/datasets/{dataset_id}/rows/{{}}/tokens"
    stored = client.get(url.format(stored_id["id"]), params={"model": tiny_model_id}).json()
    assert stored["max_seq_length"] == MAX_LEN and stored["num_loss_tokens"] > 0
    assert stored["pieces"] == render_loss_preview(stored_id, str(tiny_model_dir), max_seq_length=MAX_LEN)
    cache = studio.data_dir / "cache" / "token_previews"
    before = set(cache.glob("*.json")) if cache.is_dir() else set()
    fresh = client.get(url.format(other["id"]), params={"model": tiny_model_id, "max_seq_length": 256}).json()
    expected = render_loss_preview(other, str(tiny_model_dir), max_seq_length=256)
    assert fresh["pieces"] == expected
    loss_text = "".join(p["text"] for p in fresh["pieces"] if p["carries_loss"])
    assert other["messages"][-1]["content"][:10] in loss_text
    assert other["messages"][0]["content"][:6] not in loss_text  # the user turn carries no loss
    assert len(set(cache.glob("*.json")) - before) == 1
    missing = client.get(url.format("no-such-row"), params={"model": tiny_model_id})
    assert missing.status_code == 422
    assert client.get(url.format(other["id"]), params={"model": "no-such-model"}).status_code == 404


def test_failed_analysis_leaves_the_dataset_ready_with_the_error(
    client: TestClient, analysed: dict, tiny_model_dir: Path, tmp_path: Path, studio: Studio
) -> None:
    once(studio)
    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    shutil.copy(tiny_model_dir / "config.json", folder / "config.json")
    model = client.post("/api/v1/models", json={"path": str(folder), "id": f"no-tok-{tmp_path.name[-6:]}"})
    assert model.status_code == 201, model.text
    dataset_id = analysed["dataset"]["id"]
    job = client.post(f"/api/v1/datasets/{dataset_id}/analyse", json={"model": model.json()["id"]}).json()
    failed = wait_for_job(client, job["id"], {"failed"}, timeout=300)
    assert "tokenizer" in failed["error"]
    body = client.get(f"/api/v1/datasets/{dataset_id}").json()
    assert body["status"] == "ready" and body["analysis"]["status"] == "failed"


@pytest.mark.slow
def test_training_reads_exactly_the_version_it_named(
    client: TestClient, analysed: dict, tiny_model_id: str, studio: Studio
) -> None:
    once(studio)
    dataset_id = analysed["dataset"]["id"]
    drop = [r["id"] for r in _split(client, dataset_id, "train")[:5]]
    v2 = client.post(f"/api/v1/datasets/{dataset_id}/versions", json={"drop_row_ids": drop}).json()
    assert v2["num_train"] == 15
    job = client.post(
        "/api/v1/jobs",
        json={"kind": "train", "dataset_id": dataset_id, "dataset_version": 1, "base_model": tiny_model_id,
              "method": "lora", "hyperparameters": {"max_steps": 1, "max_seq_length": 128,
                                                    "per_device_train_batch_size": 2}},
    ).json()  # fmt: skip
    done = wait_for_job(client, job["id"], {"succeeded"}, timeout=300)
    assert done["result"]["start"]["num_train_rows"] == 20  # v1's training rows, not v2's 15
    delete = client.delete(f"/api/v1/datasets/{dataset_id}")
    assert delete.status_code == 409
