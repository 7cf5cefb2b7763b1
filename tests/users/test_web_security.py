"""The defects found by trying the studio as a hostile page would, and sign-in itself: cross-site posts,
Host header, security headers, cookies, 401 on every API route without credentials, rate limiting,
token expiry and revocation, disabled users."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.clients import BASE_URL, browser_client, studio_client
from tests.users.conftest import PASSWORD, World, snapshot
from tests.users.test_idor_matrix import all_routes

EVIL = "http://evil.example"


def _job_form(world: World) -> dict[str, str]:
    return {
        "dataset_id": str(world.dataset_id),
        "base_model": world.model_id,
        "method": "lora",
        "max_steps": "2",
    }


def test_cross_site_posts_are_refused_and_change_nothing(world: World, alice_browser: TestClient) -> None:
    """A page on another origin posting with alice's cookie: launch, delete, cancel are all 403."""
    before = snapshot(world.data_dir)
    attempts = [
        ("/ui/jobs", _job_form(world)),
        (f"/ui/datasets/{world.dataset_id}/delete", {}),
        (f"/ui/datasets/{world.dataset_id}/archive", {"archived": "1"}),
        (f"/ui/jobs/{world.job_id}/cancel", {}),
        (f"/api/v1/jobs/{world.job_id}/cancel", {}),
    ]
    for url, form in attempts:
        # The attacker cannot read the token, so it is missing; the browser names the attacker's origin.
        response = alice_browser.post(url, data=form, headers={"Origin": EVIL}, follow_redirects=False)
        assert response.status_code == 403, (url, response.status_code)
        # Even a stolen token does not help from another origin.
        response = alice_browser.post(
            url,
            data=form,
            headers={"Origin": EVIL, "X-CSRF-Token": alice_browser.csrf},
            follow_redirects=False,
        )
        assert response.status_code == 403, url
        # Same origin without the token (a form a browser auto-submits from a sandboxed frame etc.).
        response = alice_browser.post(url, data=form, follow_redirects=False)
        assert response.status_code == 403, url
    assert snapshot(world.data_dir) == before


def test_same_origin_posts_with_the_token_work(world: World, alice_browser: TestClient) -> None:
    """The positive control: the same archive form, sent by the page itself (hidden field), goes through."""
    page = alice_browser.get(f"/datasets/{world.dataset_id}")
    field = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert field, "the archive form has no CSRF field"
    response = alice_browser.post(
        f"/ui/datasets/{world.dataset_id}/archive",
        data={"archived": "1", "csrf_token": field.group(1)},
        headers={"Origin": BASE_URL},
        follow_redirects=False,
    )
    assert response.status_code < 400, response.text
    assert world.alice.get(f"/api/v1/datasets/{world.dataset_id}").json()["archived"] is True
    htmx = alice_browser.post(
        f"/ui/datasets/{world.dataset_id}/archive",
        data={"archived": "0"},
        headers={"X-CSRF-Token": alice_browser.csrf, "HX-Request": "true", "Referer": f"{BASE_URL}/datasets"},
    )
    assert htmx.status_code < 400
    assert world.alice.get(f"/api/v1/datasets/{world.dataset_id}").json()["archived"] is False


def test_a_foreign_host_header_is_refused(world: World) -> None:
    """DNS rebinding: evil.example resolving to 127.0.0.1 still names itself in the Host header."""
    for url in ("/api/v1/health", "/api/v1/datasets", "/jobs"):
        response = world.alice.get(url, headers={"Host": "evil.example"})
        assert response.status_code == 400, url
    assert world.alice.get("/api/v1/health", headers={"Host": "127.0.0.1:8000"}).status_code == 200


def test_pages_carry_security_headers(world: World) -> None:
    for url in ("/jobs", "/login", f"/datasets/{world.dataset_id}", "/api/v1/datasets"):
        headers = world.alice.get(url).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], url
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-frame-options"] == "DENY"


def test_pages_have_no_inline_scripts_the_csp_would_block(world: World) -> None:
    from app.migrations import REPO_ROOT

    for path in (REPO_ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"inline <script> in {path}"
        assert not re.search(r"\son[a-z]+\s*=|hx-on", text), f"inline event handler in {path}"


def test_session_cookie_flags(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.settings import reset_settings_cache
    from app.web import create_app

    page = studio_client(world.app).get("/login")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    monkeypatch.setenv("FTSTUDIO_COOKIE_SECURE", "1")
    reset_settings_cache()
    try:
        secure = studio_client(create_app(), base_url="https://localhost").get("/login")
        assert "secure" in secure.headers["set-cookie"].lower()
    finally:
        monkeypatch.delenv("FTSTUDIO_COOKIE_SECURE")
        reset_settings_cache()


def _anonymous(world: World) -> TestClient:
    client = studio_client(world.app)
    del client.headers["Authorization"]
    return client


def test_every_api_route_but_health_is_401_without_credentials(world: World) -> None:
    anonymous = _anonymous(world)
    checked = 0
    for route in all_routes(world.app):
        if not route.path.startswith("/api/") or route.path == "/api/v1/health":
            continue
        url = re.sub(r"{(\w+)(?::\w+)?}", "1", route.path)
        for method in route.methods - {"HEAD"}:
            for headers in (
                {},
                {"Authorization": "Bearer fts_not-a-real-token"},
                {"Authorization": "Basic eDp5"},
            ):
                response = anonymous.request(method, url, headers=headers)
                assert response.status_code == 401, (method, route.path, headers, response.status_code)
                checked += 1
    assert checked >= 3 * 40
    assert anonymous.get("/api/v1/health").status_code == 200


def test_pages_redirect_to_the_sign_in_page(world: World) -> None:
    anonymous = _anonymous(world)
    for route in all_routes(world.app):
        if route.path.startswith(("/api/", "/login", "/logout", "/auth/")) or "GET" not in route.methods:
            continue
        url = re.sub(r"{(\w+)(?::\w+)?}", "1", route.path)
        response = anonymous.get(url, follow_redirects=False)
        assert response.status_code in (303, 401), (route.path, response.status_code)
        if response.status_code == 303:
            assert response.headers["location"].startswith("/login?next="), route.path
    htmx = anonymous.get("/ui/jobs/table", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"].startswith("/login")


def test_sign_in_sign_out_and_no_open_redirect(world: World) -> None:
    client = browser_client(world.app, user="bob", password=PASSWORD)
    assert client.get("/api/v1/me").json()["name"] == "bob"  # the session works for the API too
    login = _anonymous(world)
    page = login.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = login.post(
        "/login",
        data={"name": "bob", "password": PASSWORD, "csrf_token": csrf, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    stolen = dict(client.cookies)  # a copy of the session cookie, e.g. from a shared machine
    out = client.post("/logout", data={"csrf_token": client.csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/api/v1/me").status_code == 401
    replay = _anonymous(world)
    replay.cookies.update(stolen)
    assert replay.get("/api/v1/me").status_code == 401  # signing out voids the cookie on the server
    again = browser_client(world.app, user="bob", password=PASSWORD)  # and signing in again works
    assert again.get("/api/v1/me").json()["name"] == "bob"


def test_wrong_passwords_are_rate_limited_per_user_and_address(world: World) -> None:
    from app.db import session_scope
    from app.users.service import UserService

    with session_scope() as session:
        UserService(session).create("carol", password=PASSWORD)
    client = _anonymous(world)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)

    def attempt(name: str, password: str):  # type: ignore[no-untyped-def]
        return client.post(
            "/login", data={"name": name, "password": password, "csrf_token": csrf}, follow_redirects=False
        )

    for _ in range(5):
        assert attempt("carol", "wrong password").status_code == 401
    limited = attempt("carol", PASSWORD)  # even the right password waits out the window
    assert limited.status_code == 429 and "Too many failed sign-ins" in limited.text
    assert attempt("alice", PASSWORD).status_code == 303  # another user from the same address is not blocked
    audit = world.admin.get("/api/v1/admin/audit", params={"action": "login.failed", "actor": "carol"}).json()
    assert len(audit) >= 5


def test_token_expiry_revocation_and_disabled_users(world: World) -> None:
    from app.db import session_scope
    from app.models import ApiToken, utcnow
    from app.users.service import UserService

    with session_scope() as session:
        UserService(session).create("dave", password=PASSWORD)
    dave = studio_client(world.app, user="dave")
    made = dave.post("/api/v1/account/tokens", json={"name": "short", "expires_in_days": 1}).json()
    assert made["token"].startswith("fts_") and made["expires_at"]
    other = _anonymous(world)
    bearer = {"Authorization": f"Bearer {made['token']}"}
    assert other.get("/api/v1/me", headers=bearer).status_code == 200
    with session_scope() as session:  # a day later
        session.get(ApiToken, made["id"]).expires_at = utcnow() - timedelta(seconds=1)
    assert other.get("/api/v1/me", headers=bearer).status_code == 401
    # The secret is never stored: only its sha256.
    with session_scope() as session:
        stored = session.scalars(sa.select(ApiToken.token_hash)).all()
    assert made["token"] not in stored
    second = dave.post("/api/v1/account/tokens", json={"name": "revoke me"}).json()
    bearer = {"Authorization": f"Bearer {second['token']}"}
    assert other.get("/api/v1/me", headers=bearer).status_code == 200
    assert world.bob.delete(f"/api/v1/account/tokens/{second['id']}").status_code == 404  # not bob's
    assert dave.delete(f"/api/v1/account/tokens/{second['id']}").status_code == 200
    assert other.get("/api/v1/me", headers=bearer).status_code == 401
    # Disabled: every token and session stops at once.
    session_client = browser_client(world.app, user="dave", password=PASSWORD)
    assert (
        world.admin.patch("/api/v1/admin/users/" + str(_user_id("dave")), json={"disabled": True}).status_code
        == 200
    )
    assert dave.get("/api/v1/me").status_code == 401
    assert session_client.get("/jobs", follow_redirects=False).status_code == 303
    # The refusal says why, in either language of the pages (the `lang` cookie picks it).
    for lang, says in (("en", "This account is disabled."), ("zh", "该账号已被停用。")):
        client = _anonymous(world)
        client.cookies.set("lang", lang)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        refused = client.post("/login", data={"name": "dave", "password": PASSWORD, "csrf_token": csrf})
        assert refused.status_code == 401 and says in refused.text, (lang, refused.text[-600:])


def _user_id(name: str) -> int:
    from app.db import session_scope
    from app.users.service import UserService

    with session_scope() as session:
        return UserService(session).require(name).id


def test_members_cannot_reach_admin_pages_or_api(world: World) -> None:
    for url in ("/admin/users", "/admin/audit", "/api/v1/admin/users", "/api/v1/admin/audit"):
        assert world.bob.get(url).status_code == 403, url
        assert world.admin.get(url).status_code == 200, url
    assert world.bob.patch(f"/api/v1/admin/users/{world.bob_id}", json={"role": "admin"}).status_code == 403
    assert world.bob.get("/api/v1/me").json()["role"] == "member"


@pytest.mark.parametrize("who", ["alice", "admin"])
def test_every_page_without_an_id_renders_for_members_and_admins(world: World, who: str) -> None:
    client = getattr(world, who)
    for route in all_routes(world.app):
        if "GET" not in route.methods or "{" in route.path or route.path.endswith("/events"):
            continue
        response = client.get(route.path)
        assert response.status_code < 500, (who, route.path, response.text[:300])
        if route.path.startswith("/admin/"):
            assert response.status_code == (200 if who == "admin" else 403), route.path


def test_the_language_asked_for_survives_the_redirect_to_sign_in(world: World) -> None:
    """The sign-in middleware answers before the page's route: `?lang=` must still set the cookie there,
    so the sign-in page (and its error messages) come in the language the link asked for."""
    for lang, says in (("en", "Sign in"), ("zh", "登录")):
        client = _anonymous(world)
        redirect = client.get(f"/jobs?lang={lang}", follow_redirects=False)
        assert redirect.status_code == 303 and redirect.cookies.get("lang") == lang
        assert f"<h1>{says}</h1>" in client.get(redirect.headers["location"]).text


def test_the_playground_websocket_needs_a_signed_in_user_and_scopes_by_owner(
    world: World, alice_browser: TestClient
) -> None:
    """The sign-in middleware sees HTTP only; the socket is signed in by app/users/security.WebSocketAuth."""
    from starlette.websockets import WebSocketDisconnect

    url = "ws://localhost/api/v1/playground/ws"  # TestClient's sockets default to host "testserver"
    anonymous = _anonymous(world)
    with pytest.raises(WebSocketDisconnect), anonymous.websocket_connect(url):  # nobody: refused
        pass
    # Alice's cookie sent by another site's page: refused too.
    with pytest.raises(WebSocketDisconnect), alice_browser.websocket_connect(url, headers={"Origin": EVIL}):
        pass
    # Bob's token opens it; alice's deployment is not his.
    with world.bob.websocket_connect(url) as ws:
        ws.send_json({"deployment_id": world.deployment_id, "content": "hi"})
        assert "does not exist" in ws.receive_json()["error"]
    # Alice's own page (same origin) opens it with her session cookie.
    with alice_browser.websocket_connect(url, headers={"Origin": BASE_URL}) as ws:
        ws.send_json({"content": "no deployment given"})
        assert "error" in ws.receive_json()
