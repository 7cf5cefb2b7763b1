"""Each real shared file uploads through the API with the right format and counts, and its version is
stored as the contract says (rows.jsonl hashing to the content hash, train/val files that add up)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.datasets_api.conftest import upload

# (file, detected format, rows in the source): formats and counts as documented in shared/data/README.md.
SHARED_FILES = [
    ("cpsycoun/dialogues.jsonl", "messages", 2571),
    ("emollm/data.json", "xtuner", 1596),
    ("llamafactory/alpaca_zh_demo.json", "alpaca", 1000),
    ("llamafactory/v1_sft_demo.jsonl", "messages", 500),
    ("llamafactory/identity.json", "alpaca", 91),
]


@pytest.mark.parametrize(("relative", "fmt", "count"), SHARED_FILES, ids=[f[0] for f in SHARED_FILES])
def test_shared_file_uploads_with_format_and_counts(
    client: TestClient, studio, shared_data: Path, relative: str, fmt: str, count: int
) -> None:
    path = shared_data / relative
    response = upload(client, path.name, path.read_bytes(), val_set_rate=0.1, seed=7)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["format"] == fmt
    assert body["encoding"].lower().replace("-", "") == "utf8"
    assert body["num_rows"] + body["num_invalid"] == count
    assert (
        body["num_invalid"] == 0
    )  # these files are clean; their trailing user turns are trimmed, not dropped
    assert body["num_val"] == round(body["num_rows"] * 0.1)
    assert body["num_train"] + body["num_val"] == body["num_rows"]
    assert body["status"] == "ready" and body["version"] == 1
    assert set(body["duplicates"]) >= {"exact", "near", "examples"}
    for example in body["duplicates"]["examples"]:
        assert example["kind"] in ("exact", "near") and len(example["ids"]) == 2
    # The stored version: rows.jsonl is what the content hash names; the split files hold the same rows.
    folder = studio.data_dir / "datasets" / str(body["id"]) / "v1"
    assert (
        hashlib.sha256((folder / "rows.jsonl").read_bytes()).hexdigest()
        == body["versions"][0]["content_hash"]
    )
    rows = [json.loads(line) for line in (folder / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    train = (folder / "train.jsonl").read_text(encoding="utf-8").splitlines()
    val = (folder / "val.jsonl").read_text(encoding="utf-8").splitlines()
    assert (len(rows), len(train), len(val)) == (body["num_rows"], body["num_train"], body["num_val"])
    assert {json.loads(line)["id"] for line in train + val} == {r["id"] for r in rows}
    for row in rows[:50]:
        roles = [m["role"] for m in row["messages"] if m["role"] != "system"]
        assert roles[0] == "user" and roles[-1] == "assistant"
    assert client.delete(f"/api/v1/datasets/{body['id']}").status_code == 204
    assert not folder.exists()
