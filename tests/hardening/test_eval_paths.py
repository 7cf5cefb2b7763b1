"""POST /api/v1/evaluations names its data inside the evaluation data folders only, with one answer for
"outside", "missing" and "not a file": it never tells which host files exist, never reads them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.hardening.conftest import make_model_folder
from tests.spine.studio import Studio


@pytest.fixture(scope="module")
def model_id(client, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = make_model_folder(tmp_path_factory.mktemp("eval-model") / "m")
    response = client.post("/api/v1/models", json={"path": str(folder), "id": f"e-{uuid.uuid4().hex[:8]}"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _messages_file(path: Path) -> Path:
    row = {
        "messages": [{"role": "user", "content": "secret question"}, {"role": "assistant", "content": "a"}]
    }
    path.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    return path


def _evaluate(client, model_id: str, suite: dict):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/evaluations", json={"model": model_id, "suite": suite})


def _detail_without_path(response, path: str) -> str:  # type: ignore[no-untyped-def]
    return response.json()["detail"].replace(path, "<p>")


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "/etc/no-such-file", "/", "../../../etc/passwd", "~/.bashrc"]
)
def test_host_files_are_refused_without_saying_whether_they_exist(client, model_id, unchanged, path) -> None:
    response = _evaluate(client, model_id, {"bleu_rouge": {"rows_path": path}})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "suite.bleu_rouge.rows_path"
    reference = _evaluate(client, model_id, {"bleu_rouge": {"rows_path": "/etc/zz-missing"}})
    assert _detail_without_path(response, path) == _detail_without_path(reference, "/etc/zz-missing")
    mmcu = _evaluate(client, model_id, {"mmcu": {"data_dir": path}})
    assert mmcu.status_code == 422 and mmcu.json()["field"] == "suite.mmcu.data_dir"
    unchanged()


def test_members_name_only_the_studios_eval_data(
    client, model_id, studio: Studio, as_member, tmp_path
) -> None:
    outside = _messages_file(tmp_path / "rows.jsonl")  # inside the admin's roots, not the member's
    response = _evaluate(client, model_id, {"bleu_rouge": {"rows_path": str(outside)}})
    assert response.status_code == 422, response.text
    managed = studio.data_dir / "eval-data"
    managed.mkdir(exist_ok=True)
    link = managed / f"link-{uuid.uuid4().hex[:6]}.jsonl"
    link.symlink_to(outside)  # a symlink out of the managed folder is outside too
    try:
        response = _evaluate(client, model_id, {"bleu_rouge": {"rows_path": str(link)}})
        assert response.status_code == 422, response.text
    finally:
        link.unlink()
    inside = _messages_file(managed / f"rows-{uuid.uuid4().hex[:6]}.jsonl")
    response = _evaluate(client, model_id, {"bleu_rouge": {"rows_path": inside.name}})
    assert response.status_code == 201, response.text
    assert response.json()["suite"]["bleu_rouge"]["rows_path"] == str(inside.resolve())


def test_admins_name_files_under_the_configured_roots(client, model_id, tmp_path) -> None:
    rows = _messages_file(tmp_path / "admin-rows.jsonl")
    response = _evaluate(client, model_id, {"bleu_rouge": {"rows_path": str(rows)}})
    assert response.status_code == 201, response.text
