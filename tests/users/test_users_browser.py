"""Two people in headless Chromium on one studio: alice signs in with her password and sees only her
jobs; the admin (the one-time link) sees everyone's, changes alice's quota and reads the audit log. No
page may trip its own Content-Security-Policy."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.browser import CHROMIUM, chromium_browser
from tests.clients import signin_url
from tests.spine.embedded_server import EmbeddedStudio
from tests.users.conftest import PASSWORD, World

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def live_url(world: World, studio) -> Iterator[str]:  # type: ignore[no-untyped-def]  # noqa: ANN001
    if studio.mode != "embedded":
        pytest.skip("the pages are the same over either database; one browser run is enough")
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)")
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _bob_job(world: World) -> None:
    from app.db import session_scope
    from app.models import Job, JobKind, JobStatus

    with session_scope() as session:
        session.add(
            Job(
                owner_id=world.bob_id,
                kind=JobKind.TRAIN,
                status=JobStatus.FAILED,
                name="bob-train",
                method="lora",
                config={},
            )
        )


def test_members_see_their_own_and_the_admin_manages_everyone(world: World, live_url: str) -> None:
    _bob_job(world)
    csp_errors: list[str] = []
    with chromium_browser() as browser:
        alice = browser.new_context().new_page()
        alice.on(
            "console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None
        )
        alice.goto(f"{live_url}/login?lang=en")  # the language cookie, as the switch in the top bar sets it
        alice.goto(f"{live_url}/jobs?lang=en")
        assert "/login" in alice.url  # not signed in: the sign-in page
        alice.fill("#login-name", "alice")
        alice.fill("#login-password", "wrong password")
        alice.click("#login-submit")
        assert "Wrong user name or password" in alice.inner_text("#login-error")
        alice.fill("#login-password", PASSWORD)
        alice.click("#login-submit")
        alice.wait_for_url(re.compile(r".*/jobs\?lang=en$"))
        table = alice.inner_text("#jobs-table")
        assert "alice-train" in table and "bob-train" not in table
        assert alice.locator("#nav-admin-users").count() == 0
        alice.goto(f"{live_url}/admin/users")
        assert "403" in alice.inner_text("main")
        # htmx pages keep working under the CSP and send the CSRF header: archive and unarchive her data.
        alice.goto(f"{live_url}/datasets/{world.dataset_id}?lang=en")
        alice.click("#archive-button")
        alice.wait_for_selector("text=Unarchive")

        admin = browser.new_context().new_page()
        admin.on(
            "console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None
        )
        admin.goto(signin_url(live_url))  # the one-time link `ftstudio up` prints
        admin.goto(f"{live_url}/jobs?lang=en")
        table = admin.inner_text("#jobs-table")
        assert "alice-train" in table and "bob-train" in table
        admin.click("#nav-admin-users")
        row = admin.locator("tr[data-user='alice']")
        row.locator("input[name=max_queued_jobs]").fill("2")
        row.locator(".quota-form button").click()
        admin.wait_for_selector("#admin-message")
        assert admin.locator("tr[data-user='alice'] input[name=max_queued_jobs]").input_value() == "2"
        admin.click("#nav-admin-audit")
        audit = admin.inner_text("#audit")
        assert "user.quota" in audit and "alice" in audit and "login.failed" in audit
    from app.db import session_scope
    from app.users.service import UserService

    with session_scope() as session:
        assert UserService(session).require("alice").max_queued_jobs == 2
    assert not csp_errors, csp_errors
    world.alice.post(f"/api/v1/datasets/{world.dataset_id}/unarchive")


def test_up_prints_a_one_time_sign_in_link(embedded: EmbeddedStudio) -> None:
    """`ftstudio up` on 127.0.0.1: the printed link signs a browser in once; the CLI token file is 0600."""
    found = re.search(r"Sign in \(one-time link\): (\S+)", embedded.output())
    assert found, embedded.output()
    with httpx.Client() as browser:
        first = browser.get(found.group(1), follow_redirects=True)
        assert first.status_code == 200 and str(first.url).endswith("/jobs") or first.url.path == "/"
        assert browser.get(f"{embedded.url}/api/v1/me").json()["name"] == "local"
    with httpx.Client() as other:
        assert other.get(found.group(1)).status_code == 401  # used up
        assert other.get(f"{embedded.url}/api/v1/me").status_code == 401
    token_file = embedded.data_dir / "cli_token"
    assert token_file.stat().st_mode & 0o777 == 0o600
