"""The IDOR matrix, generated from the app's route table: every route that takes an object id is tried by
bob on alice's object (API, pages, htmx fragments, the SSE stream, the download) and must answer 404 with
nothing changed in the database or on disk. A new id-taking route that is not classified here fails."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from tests.users.conftest import World, snapshot

# Path parameter -> which of alice's objects it names (a World attribute), or how the route is guarded.
OWNED = {
    "dataset_id": "dataset_id",
    "job_id": "job_id",
    "export_job_id": "export_id",
    "evaluation_id": "evaluation_id",
    "token_id": "token_id",
}
DETAIL = {"version": 1, "row_id": "r-1"}  # parts of an owned object (the dataset's version, a row)
SHARED = {"model_id"}  # the model catalog is shared by everyone (models are not owned)
ADMIN_ONLY = {"user_id"}  # admin routes: a member gets 403 whatever the id

# Bodies that pass validation, so the request reaches the ownership check (a 422 would prove nothing).
JSON_BODIES = {
    "/api/v1/datasets/{dataset_id}/versions": {"drop_row_ids": ["x"]},
    "/api/v1/datasets/{dataset_id}/flags": {"row_ids": ["x"]},
    "/api/v1/datasets/{dataset_id}/analyse": {"model": "bench-llama"},
    "/api/v1/jobs/{job_id}/resume": {},
    "/api/v1/jobs/{job_id}/compare": {"suite": {"bleu_rouge": {}}},
    "/api/v1/jobs/{job_id}/export": {},
    "/api/v1/admin/users/{user_id}": {"role": "admin"},
    "/api/v1/admin/users/{user_id}/tokens": {"name": "stolen"},
}
QUERIES = {
    "/api/v1/datasets/{dataset_id}/rows/{row_id}/tokens": "?model=bench-llama",
    "/ui/datasets/{dataset_id}/rows/{row_id}/tokens": "?model=bench-llama",
}
FORM = {"name": "x", "archived": "1", "drop_row_ids": "x", "model": "bench-llama", "bleu_rouge": "on"}


def all_routes(app) -> list[APIRoute]:  # type: ignore[no-untyped-def]
    """app.routes with included routers opened (FastAPI includes them lazily)."""

    def walk(routes, prefix=""):  # type: ignore[no-untyped-def]
        for route in routes:
            if hasattr(route, "original_router"):
                yield from walk(route.original_router.routes, prefix + (route.include_context.prefix or ""))
            elif isinstance(route, APIRoute):
                yield prefix, route

    out = []
    for prefix, route in walk(app.routes):
        if prefix:  # only when an include added a prefix of its own
            route = APIRoute(prefix + route.path, route.endpoint, methods=route.methods)
        out.append(route)
    return out


def id_routes(app) -> list[tuple[str, str, list[str]]]:  # type: ignore[no-untyped-def]
    found = []
    for route in all_routes(app):
        params = re.findall(r"{(\w+)(?::\w+)?}", route.path)
        if params:
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, route.path, params))
    return found


def test_every_id_route_is_in_the_matrix(world: World) -> None:
    unknown = {
        (method, path, p)
        for method, path, params in id_routes(world.app)
        for p in params
        if p not in OWNED and p not in DETAIL and p not in SHARED and p not in ADMIN_ONLY
    }
    assert not unknown, (
        f"routes taking an id the IDOR matrix does not know (add them to OWNED/...): {unknown}"
    )
    assert len(id_routes(world.app)) >= 40


def _url(world: World, path: str) -> str:
    values = {
        **{k: getattr(world, v) for k, v in OWNED.items()},
        **DETAIL,
        "model_id": world.model_id,
        "user_id": world.alice_id,
    }
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: str(values[m.group(1)]), path) + QUERIES.get(path, "")


def _request(client, method: str, path: str, url: str):  # type: ignore[no-untyped-def]
    if path.startswith("/api/"):
        body = JSON_BODIES.get(path)
        return client.request(method, url, json=body) if body is not None else client.request(method, url)
    # htmx fragments are asked for as the page's htmx does; full pages as a browser navigation.
    headers = {"HX-Request": "true"} if path.startswith("/ui/") else {}
    return client.request(method, url, data=FORM if method == "POST" else None, headers=headers)


def _refused(path: str, expected: int, response) -> bool:  # type: ignore[no-untyped-def]
    if response.status_code == expected:
        return True
    # The studio's htmx convention (app/views_common.render_error): a fragment carries its error inside a
    # 200, because htmx does not swap 4xx answers. It must still be the not-found message.
    return (
        expected == 404
        and path.startswith("/ui/")
        and response.status_code == 200
        and "does not exist" in response.text
    )


def test_bob_gets_404_on_every_object_of_alice(world: World) -> None:
    before = snapshot(world.data_dir)
    tried, wrong = 0, []
    for method, path, params in id_routes(world.app):
        if set(params) & SHARED or not set(params) & (set(OWNED) | ADMIN_ONLY):
            continue
        admin_route = set(params) & ADMIN_ONLY or path.startswith(("/api/v1/admin/", "/admin/"))
        expected = 403 if admin_route else 404
        response = _request(world.bob, method, path, _url(world, path))
        tried += 1
        if not _refused(path, expected, response):
            wrong.append(f"{method} {path} -> {response.status_code} {response.text[:120]!r}")
    assert not wrong, "bob reached alice's objects:\n" + "\n".join(wrong)
    assert tried >= 40
    assert snapshot(world.data_dir) == before, "a refused request changed something"


def test_ids_in_bodies_and_queries_are_scoped_too(world: World) -> None:
    before = snapshot(world.data_dir)
    launch = world.bob.post(
        "/api/v1/jobs", json={"dataset_id": world.dataset_id, "base_model": world.model_id, "method": "lora"}
    )
    assert launch.status_code == 404, launch.text
    evaluation = world.bob.post(
        "/api/v1/evaluations", json={"job_id": world.job_id, "suite": {"bleu_rouge": {}}}
    )
    assert evaluation.status_code == 404, evaluation.text
    compare = world.bob.get(
        f"/api/v1/evaluations/compare?base={world.evaluation_id}&tuned={world.evaluation_id}"
    )
    assert compare.status_code == 404, compare.text
    page = world.bob.get(f"/evaluations/compare?base={world.evaluation_id}&tuned={world.evaluation_id}")
    assert page.status_code == 404
    assert snapshot(world.data_dir) == before


def test_lists_show_only_your_own_and_the_admin_sees_all(world: World) -> None:
    for url, key in (("/api/v1/datasets", "id"), ("/api/v1/jobs", "id"), ("/api/v1/evaluations", "id")):
        mine = {row[key] for row in world.alice.get(url).json()}
        theirs = {row[key] for row in world.bob.get(url).json()}
        everything = {row[key] for row in world.admin.get(url).json()}
        assert not mine & theirs and mine <= everything, url
    assert world.dataset_id in {d["id"] for d in world.alice.get("/api/v1/datasets").json()}
    assert "alice-train" in world.admin.get("/jobs").text
    assert "alice-train" not in world.bob.get("/jobs").text


@pytest.mark.parametrize("who", ["alice", "admin"])
def test_the_owner_and_the_admin_do_reach_the_objects(world: World, who: str) -> None:
    """The positive control: the matrix above refuses real objects, not ids that do not exist."""
    client = getattr(world, who)
    for url in (
        f"/api/v1/datasets/{world.dataset_id}",
        f"/api/v1/jobs/{world.job_id}",
        f"/api/v1/exports/{world.export_id}",
        f"/api/v1/evaluations/{world.evaluation_id}",
        f"/datasets/{world.dataset_id}",
        f"/jobs/{world.job_id}",
        f"/evaluations/{world.evaluation_id}",
    ):
        assert client.get(url).status_code == 200, (who, url)
    download = client.get(f"/api/v1/exports/{world.export_id}/download")
    assert download.status_code == 200 and download.content[:2] == b"PK"
