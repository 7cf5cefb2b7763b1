"""`ftstudio users ...` and `ftstudio admin audit` on the database; quotas set by an admin and enforced
with a 429 naming the limit; the audit log records who did what; `ftstudio up` refuses a non-loopback bind
without an admin password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.migrations import REPO_ROOT
from tests.clients import studio_client
from tests.spine.embedded_server import free_port
from tests.users.conftest import World, write_dataset


def _cli(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    from app.cli.main import cli

    return CliRunner().invoke(cli, list(args), input=stdin)


def test_users_create_list_token_disable(world: World) -> None:
    data_dir = str(world.data_dir)
    made = _cli(
        "users", "create", "erin", "--password-stdin", "--data-dir", data_dir, stdin="erin's long password\n"
    )
    assert made.exit_code == 0, made.output
    admin = _cli("users", "create", "frank", "--admin", "--data-dir", data_dir)
    assert admin.exit_code == 0 and "admin" in admin.output
    again = _cli("users", "create", "erin", "--data-dir", data_dir)
    assert again.exit_code == 1 and "already exists" in again.output
    listed = _cli("users", "list", "--data-dir", data_dir)
    assert listed.exit_code == 0
    assert any(line.split()[1:3] == ["erin", "member"] for line in listed.output.splitlines())
    assert any(line.split()[1:3] == ["frank", "admin"] for line in listed.output.splitlines())

    issued = _cli(
        "users", "token", "--user", "erin", "--name", "ci", "--expires", "7", "--data-dir", data_dir
    )
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    anonymous = studio_client(world.app)
    del anonymous.headers["Authorization"]
    me = anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "erin"
    local = _cli("users", "token", "--data-dir", data_dir).output.strip().splitlines()[-1]
    assert anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {local}"}).json()["name"] == "local"

    disabled = _cli("users", "disable", "erin", "--data-dir", data_dir)
    assert disabled.exit_code == 0
    assert anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    missing = _cli("users", "token", "--user", "nobody", "--data-dir", data_dir)
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_quotas_set_by_an_admin_are_enforced(world: World, tmp_path: Path) -> None:
    body = {
        "dataset_id": world.dataset_id,
        "base_model": world.model_id,
        "method": "lora",
        "hyperparameters": {"max_steps": 2},
    }
    refused = world.bob.patch(f"/api/v1/admin/users/{world.alice_id}", json={"max_queued_jobs": 1})
    assert refused.status_code == 403
    set_quota = world.admin.patch(f"/api/v1/admin/users/{world.alice_id}", json={"max_queued_jobs": 1})
    assert set_quota.status_code == 200 and set_quota.json()["max_queued_jobs"] == 1
    first = world.alice.post("/api/v1/jobs", json=body)
    assert first.status_code == 201, first.text
    second = world.alice.post("/api/v1/jobs", json=body)
    assert second.status_code == 429 and "queued" in second.json()["detail"]
    assert world.alice.post(f"/api/v1/jobs/{first.json()['id']}/cancel").status_code == 200
    world.admin.patch(
        f"/api/v1/admin/users/{world.alice_id}", json={"max_queued_jobs": None, "max_running_jobs": 0}
    )
    assert world.alice.post("/api/v1/jobs", json=body).status_code == 429
    # Storage: the next upload would pass the limit.
    world.admin.patch(
        f"/api/v1/admin/users/{world.alice_id}", json={"max_running_jobs": None, "max_storage_bytes": 10}
    )
    path = write_dataset(tmp_path / "more.jsonl")
    with path.open("rb") as handle:
        upload = world.alice.post("/api/v1/datasets", files={"file": (path.name, handle)})
    assert upload.status_code == 429 and "Storage quota" in upload.json()["detail"]
    assert world.alice.post("/api/v1/jobs", json=body).status_code == 429
    world.admin.patch(f"/api/v1/admin/users/{world.alice_id}", json={"max_storage_bytes": None})
    # Bob's limits are his own: alice's quota never stopped him.
    assert world.bob.get("/api/v1/jobs").status_code == 200


def test_the_audit_log_says_who_did_what(world: World) -> None:
    world.admin.patch(f"/api/v1/admin/users/{world.bob_id}", json={"max_running_jobs": 3})
    job = world.bob.post("/api/v1/account/tokens", json={"name": "bob-ci"}).json()
    world.bob.delete(f"/api/v1/account/tokens/{job['id']}")
    entries = world.admin.get("/api/v1/admin/audit", params={"limit": 1000}).json()
    seen = {(e["actor_name"], e["action"]) for e in entries}
    for expected in [
        ("alice", "dataset.create"),  # the upload
        ("alice", "job.create"),  # the launch (test_quotas_set_by_an_admin_are_enforced)
        ("alice", "job.cancel"),
        ("local", "user.quota"),
        ("bob", "token.create"),
        ("bob", "token.revoke"),
        ("local", "model.create"),
    ]:
        assert expected in seen, expected
    quota = next(e for e in entries if e["action"] == "user.quota" and e["object_id"] == str(world.bob_id))
    assert "max_running_jobs" in quota["detail"] and quota["created_at"]
    page = world.admin.get("/admin/audit")
    assert page.status_code == 200 and "user.quota" in page.text
    cli = _cli("admin", "audit", "--limit", "500", "--data-dir", str(world.data_dir))
    assert cli.exit_code == 0 and "token.revoke" in cli.output and "bob" in cli.output


@pytest.mark.parametrize("studio", ["embedded"], indirect=True)
def test_up_refuses_a_non_loopback_bind_without_an_admin_password(tmp_path: Path, studio) -> None:  # noqa: ANN001
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "FTSTUDIO_ADMIN_PASSWORD")
    }
    env["FTSTUDIO_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli.main",
            "up",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--no-demo-model",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Refusing to serve on 0.0.0.0" in done.stderr and "FTSTUDIO_ADMIN_PASSWORD" in done.stderr
    assert "FT Studio is running" not in done.stdout


def test_admins_manage_other_users_tokens(world: World) -> None:
    stolen = world.bob.post(f"/api/v1/admin/users/{world.alice_id}/tokens", json={"name": "x"})
    assert stolen.status_code == 403
    made = world.admin.post(f"/api/v1/admin/users/{world.alice_id}/tokens", json={"name": "service"})
    assert made.status_code == 201
    bearer = {"Authorization": f"Bearer {made.json()['token']}"}
    anonymous = studio_client(world.app)
    del anonymous.headers["Authorization"]
    assert anonymous.get("/api/v1/me", headers=bearer).json()["name"] == "alice"
    listed = world.admin.get(f"/api/v1/admin/users/{world.alice_id}/tokens").json()
    assert "service" in [t["name"] for t in listed] and all("token" not in t for t in listed)
    page = world.admin.get("/admin/users")
    assert f'data-token="{made.json()["id"]}"' in page.text
    revoked = world.admin.post(f"/admin/tokens/{made.json()['id']}/revoke")
    assert revoked.status_code == 200
    assert anonymous.get("/api/v1/me", headers=bearer).status_code == 401


def test_a_refused_form_is_not_audited_as_done(world: World, alice_browser: TestClient) -> None:
    before = len(
        world.admin.get("/api/v1/admin/audit", params={"action": "job.create", "limit": 1000}).json()
    )
    refused = alice_browser.post(
        "/ui/jobs",
        data={"dataset_id": "999999", "base_model": world.model_id, "method": "lora"},
        headers={"X-CSRF-Token": alice_browser.csrf, "HX-Request": "true"},
    )
    assert refused.status_code == 200 and "does not exist" in refused.text
    after = world.admin.get("/api/v1/admin/audit", params={"action": "job.create", "limit": 1000}).json()
    assert len(after) == before
