"""Review through the API: paginated/searchable rows, flags, new immutable versions (drop, re-split), a job
pinned to the exact version it named, and delete vs archive."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.spine.conftest import COUNSELLING_ROWS, write_dataset


@pytest.fixture(scope="module")
def reviewed(client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = write_dataset(tmp_path_factory.mktemp("review") / "counselling.jsonl")  # 24 rows
    with path.open("rb") as handle:
        response = client.post(
            "/api/v1/datasets", files={"file": (path.name, handle)}, data={"val_set_size": "4", "seed": "3"}
        )
    assert response.status_code == 201, response.text
    return response.json()


def _folder_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _all_ids(client: TestClient, dataset_id: int, version: int | None = None) -> dict[str, list[str]]:
    out = {}
    for split in ("train", "val"):
        params = {"split": split, "page_size": 200, **({"version": version} if version else {})}
        out[split] = [
            r["id"] for r in client.get(f"/api/v1/datasets/{dataset_id}/rows", params=params).json()["rows"]
        ]
    return out


def test_rows_are_paginated_searchable_and_split(client: TestClient, reviewed: dict) -> None:
    url = f"/api/v1/datasets/{reviewed['id']}/rows"
    first = client.get(url, params={"page_size": 7}).json()
    assert first["total"] == reviewed["num_train"] == 20 and first["pages"] == 3 and len(first["rows"]) == 7
    last = client.get(url, params={"page_size": 7, "page": 3}).json()
    assert len(last["rows"]) == 20 - 14
    seen = [
        r["id"] for p in (1, 2, 3) for r in client.get(url, params={"page_size": 7, "page": p}).json()["rows"]
    ]
    assert len(set(seen)) == 20
    val = client.get(url, params={"split": "val"}).json()
    assert val["total"] == 4 and not set(r["id"] for r in val["rows"]) & set(seen)
    needle = COUNSELLING_ROWS[2][0][:4]  # "我和室友"
    found = client.get(url, params={"q": needle, "split": "train", "page_size": 50}).json()
    expected = sum(
        any(needle in m["content"] for m in r["messages"])
        for r in client.get(url, params={"page_size": 50}).json()["rows"]
    )
    assert found["total"] == expected and expected > 0
    assert all(any(needle in m["content"] for m in r["messages"]) for r in found["rows"])
    assert client.get(url, params={"split": "test"}).status_code == 422
    assert client.get(url, params={"page_size": 1000}).status_code == 422


def test_flags_mark_rows_without_changing_the_version(client: TestClient, reviewed: dict, studio) -> None:
    ids = _all_ids(client, reviewed["id"])["train"]
    folder = studio.data_dir / "datasets" / str(reviewed["id"]) / "v1"
    before = _folder_digest(folder)
    response = client.post(f"/api/v1/datasets/{reviewed['id']}/flags", json={"row_ids": ids[:2]})
    assert response.status_code == 200 and response.json()["flagged"] == ids[:2]
    page = client.get(f"/api/v1/datasets/{reviewed['id']}/rows", params={"page_size": 3}).json()
    assert [r["flagged"] for r in page["rows"]] == [True, True, False]
    assert client.get(f"/api/v1/datasets/{reviewed['id']}").json()["flagged"] == ids[:2]
    unflag = client.post(
        f"/api/v1/datasets/{reviewed['id']}/flags", json={"row_ids": [ids[1]], "flagged": False}
    )
    assert unflag.json()["flagged"] == [ids[0]]
    bad = client.post(f"/api/v1/datasets/{reviewed['id']}/flags", json={"row_ids": ["no-such-row"]})
    assert bad.status_code == 422 and "no-such-row" in bad.json()["detail"]
    assert _folder_digest(folder) == before


def test_dropping_rows_makes_a_new_immutable_version(client: TestClient, reviewed: dict, studio) -> None:
    dataset_id = reviewed["id"]
    v1_folder = studio.data_dir / "datasets" / str(dataset_id) / "v1"
    before = _folder_digest(v1_folder)
    ids = _all_ids(client, dataset_id)
    drop = [ids["train"][0], ids["val"][0]]
    url = f"/api/v1/datasets/{dataset_id}/versions"
    response = client.post(url, json={"base_version": 1, "drop_row_ids": drop, "note": "two bad answers"})
    assert response.status_code == 201, response.text
    v2 = response.json()
    v1 = client.get(f"/api/v1/datasets/{dataset_id}/versions/1").json()
    assert v2["version"] == 2 and v2["parent_version_id"] == v1["id"] and v2["note"] == "two bad answers"
    assert v2["num_rows"] == 22 and v2["num_val"] == 4 and v2["num_train"] == 18  # re-split: stored size 4
    assert v2["content_hash"] != v1["content_hash"]
    v2_folder = studio.data_dir / "datasets" / str(dataset_id) / "v2"
    assert hashlib.sha256((v2_folder / "rows.jsonl").read_bytes()).hexdigest() == v2["content_hash"]
    new_ids = _all_ids(client, dataset_id, 2)
    assert not set(drop) & set(new_ids["train"] + new_ids["val"])
    assert set(new_ids["train"] + new_ids["val"]) == set(ids["train"] + ids["val"]) - set(drop)
    assert _folder_digest(v1_folder) == before and _all_ids(client, dataset_id, 1) == ids
    dataset = client.get(f"/api/v1/datasets/{dataset_id}").json()
    assert dataset["version"] == 2 and [v["version"] for v in dataset["versions"]] == [1, 2]
    assert ids["train"][0] not in dataset["flagged"]  # a dropped row's flag does not carry over
    # Nothing to change, unknown ids, or an empty result: 422, and no version is made.
    for body in ({"base_version": 2, "drop_row_ids": []}, {"drop_row_ids": ["nope"]},
                 {"base_version": 2, "drop_row_ids": new_ids["train"] + new_ids["val"]}):  # fmt: skip
        bad = client.post(url, json=body)
        assert bad.status_code == 422 and bad.json()["field"] == "drop_row_ids", bad.text
    assert len(client.get(url).json()) == 2
    # Re-split only: same rows (same content hash), a new split stored on the version.
    resplit = client.post(url, json={"val_set_size": 6, "note": "bigger validation set"}).json()
    assert (
        resplit["version"] == 3 and resplit["num_val"] == 6 and resplit["content_hash"] == v2["content_hash"]
    )
    assert resplit["split"]["val_set_size"] == 6 and resplit["parent_version_id"] == v2["id"]
    assert client.post(url, json={"val_set_size": 100}).status_code == 422


def test_a_job_pins_the_exact_version_it_named(
    client: TestClient, reviewed: dict, tiny_model_id: str
) -> None:
    dataset_id = reviewed["id"]
    versions = {v["version"]: v for v in client.get(f"/api/v1/datasets/{dataset_id}/versions").json()}
    assert len(versions) >= 2, "runs after the version test in this module"
    response = client.post(
        "/api/v1/jobs",
        json={"kind": "train", "dataset_id": dataset_id, "dataset_version": 1, "base_model": tiny_model_id,
              "method": "lora", "hyperparameters": {"max_steps": 1}},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["dataset_version_id"] == versions[1]["id"]
    assert job["config"]["dataset"]["path"].endswith(f"datasets/{dataset_id}/v1")
    client.post(f"/api/v1/jobs/{job['id']}/cancel")


def test_delete_is_refused_once_a_job_used_it_archive_hides_it(
    client: TestClient, reviewed: dict, studio, tmp_path: Path
) -> None:
    dataset_id = reviewed["id"]
    refused = client.delete(f"/api/v1/datasets/{dataset_id}")
    assert refused.status_code == 409 and "archive" in refused.json()["detail"]
    assert (studio.data_dir / "datasets" / str(dataset_id) / "v1").is_dir()
    archived = client.post(f"/api/v1/datasets/{dataset_id}/archive").json()
    assert archived["archived"] is True
    page = client.get("/datasets?lang=en").text
    assert f'data-dataset-id="{dataset_id}"' in page and "archived" in page
    assert f">#{dataset_id} {reviewed['name']} (" not in client.get("/jobs/new?lang=en").text
    assert client.post(f"/api/v1/datasets/{dataset_id}/unarchive").json()["archived"] is False
    assert f">#{dataset_id} {reviewed['name']} (" in client.get("/jobs/new?lang=en").text
    # A dataset no job used goes away entirely: row, versions and files.
    other = write_dataset(tmp_path / "other.jsonl", repeats=1)
    created = client.post("/api/v1/datasets", files={"file": (other.name, other.read_bytes())}).json()
    client.post(f"/api/v1/datasets/{created['id']}/versions", json={"val_set_size": 1})
    assert client.delete(f"/api/v1/datasets/{created['id']}").status_code == 204
    assert client.get(f"/api/v1/datasets/{created['id']}").status_code == 404
    assert not (studio.data_dir / "datasets" / str(created["id"])).exists()


def test_version_detail_carries_the_report(client: TestClient, reviewed: dict) -> None:
    detail = client.get(f"/api/v1/datasets/{reviewed['id']}/versions/2").json()
    assert (
        detail["report"]["derived"]["from_version"] == 1 and detail["report"]["derived"]["num_dropped"] == 2
    )
    assert detail["report"]["stats"]["rows"] == 22
    assert json.loads(json.dumps(detail))  # plain JSON
    assert client.get(f"/api/v1/datasets/{reviewed['id']}/versions/99").status_code == 404
