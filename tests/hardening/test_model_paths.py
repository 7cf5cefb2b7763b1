"""POST /api/v1/models names only folders the studio may read: admins under the model roots, members under
the studio's own models folder; gguf_file stays inside its folder; broken folders are a 422, not a 500."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.hardening.conftest import make_model_folder
from tests.spine.studio import Studio


def _id() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(
    "body",
    [
        {"path": "/"},
        {"path": "/etc"},
        {"path": "/", "gguf_file": "etc/shadow"},
        {"path": "/nonexistent/folder/xyz"},
        {"path": "../../../../etc"},
        {"path": "~"},
    ],
)
def test_host_folders_outside_the_roots_are_refused(client, unchanged, body: dict) -> None:
    response = client.post("/api/v1/models", json={**body, "id": _id()})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "path"
    unchanged()


def test_existing_and_missing_host_folders_get_the_same_answer(client) -> None:
    # The message must not tell a caller whether a path exists on the host.
    a = client.post("/api/v1/models", json={"path": "/etc", "id": "same-a"}).json()["detail"]
    b = client.post("/api/v1/models", json={"path": "/etc-not-there", "id": "same-b"}).json()["detail"]
    assert a.replace("/etc-not-there", "/etc") == b.replace("/etc-not-there", "/etc")


def test_gguf_file_must_stay_inside_the_folder(client, unchanged, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "gguf-model")
    (folder / "m.gguf").write_bytes(b"GGUF")
    for name in ("../../../../etc/shadow", "/etc/shadow", "etc/shadow", "config.json"):
        response = client.post("/api/v1/models", json={"path": str(folder), "gguf_file": name, "id": _id()})
        assert response.status_code == 422, (name, response.text)
        assert response.json()["field"] == "gguf_file"
    unchanged()
    ok = client.post("/api/v1/models", json={"path": str(folder), "gguf_file": "m.gguf", "id": _id()})
    assert ok.status_code == 201, ok.text
    assert ok.json()["gguf_file"] == "m.gguf"


def test_symlink_out_of_the_models_folder_is_refused(client, studio: Studio, unchanged, as_member) -> None:
    link = studio.data_dir / "models" / f"escape-{uuid.uuid4().hex[:6]}"
    link.symlink_to("/etc")
    try:
        unchanged_after = unchanged
        response = client.post("/api/v1/models", json={"path": str(link), "id": _id()})
        assert response.status_code == 422, response.text
        response = client.post("/api/v1/models", json={"path": link.name, "id": _id()})
        assert response.status_code == 422, response.text
    finally:
        link.unlink()
    unchanged_after()


def test_member_registers_only_managed_folders(client, studio: Studio, as_member, tmp_path: Path) -> None:
    outside = make_model_folder(tmp_path / "member-outside")  # under the admin's roots, not managed
    response = client.post("/api/v1/models", json={"path": str(outside), "id": _id()})
    assert response.status_code == 422, response.text
    assert "models folder" in response.json()["detail"]
    managed = make_model_folder(studio.data_dir / "models" / f"member-{uuid.uuid4().hex[:6]}")
    response = client.post("/api/v1/models", json={"path": str(managed), "id": _id()})
    assert response.status_code == 201, response.text
    by_name = make_model_folder(studio.data_dir / "models" / f"member-{uuid.uuid4().hex[:6]}")
    response = client.post("/api/v1/models", json={"path": by_name.name, "id": _id()})
    assert response.status_code == 201, response.text
    assert response.json()["path"] == str(by_name.resolve())
    traversal = client.post("/api/v1/models", json={"path": f"{by_name.name}/../../..", "id": _id()})
    assert traversal.status_code == 422


def test_admin_registers_under_configured_roots(client, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "admin-model")
    response = client.post("/api/v1/models", json={"path": str(folder), "id": _id()})
    assert response.status_code == 201, response.text
    assert response.json()["trust_remote_code"] is False


def test_pickle_only_weights_are_refused(client, unchanged, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "pickled", weights="pytorch_model.bin")
    response = client.post("/api/v1/models", json={"path": str(folder), "id": _id()})
    assert response.status_code == 422, response.text
    assert "safetensors only" in response.json()["detail"]
    unchanged()


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"architectures": 5}', "architectures"),
        ('{"architectures": [5]}', "architectures"),
        ("\xff\xfe", "not valid JSON"),
        ("[" * 5000 + "]" * 5000, "JSON"),
    ],
)
def test_broken_config_json_is_a_422(client, unchanged, tmp_path: Path, config: str, words: str) -> None:
    folder = make_model_folder(tmp_path / "broken", config=config)
    response = client.post("/api/v1/models", json={"path": str(folder), "id": _id()})
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    unchanged()


def test_path_component_over_255_bytes_is_a_422(client, unchanged, tmp_path: Path) -> None:
    for path in (str(tmp_path / ("a" * 256)), "x" * 300, "/tmp/" + "é" * 130):
        response = client.post("/api/v1/models", json={"path": path, "id": _id()})
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "path"
    unchanged()


def test_trust_remote_code_is_admin_only(client, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "custom-code")
    model_id = client.post("/api/v1/models", json={"path": str(folder), "id": _id()}).json()["id"]
    allowed = client.post(f"/api/v1/models/{model_id}/trust-remote-code")
    assert allowed.status_code == 200 and allowed.json()["trust_remote_code"] is True
    page = client.get("/models?lang=en").text
    row = page.split(f'data-model-id="{model_id}"')[1].split("</tr>")[0]
    assert "Allowed" in row and "Forbid its code" in row  # the badge and the admin's toggle
    toggled = client.post(f"/ui/models/{model_id}/trust-remote-code", data={"allow": "0"})
    row = toggled.text.split(f'data-model-id="{model_id}"')[1].split("</tr>")[0]
    assert toggled.status_code == 200 and "Off" in row and "Allow its code" in row
    client.post(f"/ui/models/{model_id}/trust-remote-code", data={"allow": "1"})
    denied = client.delete(f"/api/v1/models/{model_id}/trust-remote-code")
    assert denied.json()["trust_remote_code"] is False
    assert client.post("/api/v1/models/nope-not-there/trust-remote-code").status_code == 404


def test_members_cannot_change_trust_remote_code(client, as_member, tmp_path: Path) -> None:
    response = client.post("/api/v1/models/any-model/trust-remote-code")
    assert response.status_code == 403
    assert client.delete("/api/v1/models/any-model/trust-remote-code").status_code == 403


def test_members_see_the_badge_but_no_toggle(client, as_member) -> None:
    page = client.get("/models?lang=en").text
    assert "Allow its code" not in page and "Forbid its code" not in page
    response = client.post("/ui/models/any/trust-remote-code", data={"allow": "1"})
    assert response.status_code == 403
