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
    "deployment_id": "deployment_id",
    "conversation_id": "conversation_id",
    "template_id": "template_id",
    "secret_id": "secret_id",
}
DETAIL = {"version": 1, "row_id": "r-1"}  # parts of an owned object (the dataset's version, a row)
SHARED = {"model_id"}  # the model catalog is shared by everyone (models are not owned)
ADMIN_ONLY = {"user_id": "alice_id", "worker_id": "worker_id"}  # a member gets 403 whatever the id
# Path parameters that name no object (a verb): every value the route acts on is tried. A new one must be
# added here, with its values, or the matrix fails.
VERBS = {
    "action": {
        "/admin/ui/workers/{worker_id}/{action}": ("drain", "undrain"),
        "/admin/ui/jobs/{job_id}/{action}": ("top", "requeue", "cancel", "priority"),
    }
}

# Bodies that pass validation, so the request reaches the ownership check (a 422 would prove nothing).
JSON_BODIES = {
    "/api/v1/datasets/{dataset_id}/versions": {"drop_row_ids": ["x"]},
    "/api/v1/datasets/{dataset_id}/flags": {"row_ids": ["x"]},
    "/api/v1/datasets/{dataset_id}/analyse": {"model": "bench-llama"},
    "/api/v1/jobs/{job_id}/resume": {},
    "/api/v1/jobs/{job_id}/compare": {"suite": {"bleu_rouge": {}}},
    "/api/v1/jobs/{job_id}/export": {},
    "/api/v1/admin/users/{user_id}": {"role": "admin"},
    "/api/v1/admin/jobs/{job_id}/priority": {"priority": 5},
    "/api/v1/deployments/{deployment_id}": {"system_prompt": "bob was here", "faq_threshold": 0.1},
    "/api/v1/conversations/{conversation_id}/dataset": {"name": "bob-copy"},
    "/api/v1/synthesis/templates/{template_id}": {"name": "bob", "prompt": "bob was here"},
    "/api/v1/datasets/synthesize/{job_id}/resume": {"rows": 5},
    "/api/v1/admin/users/{user_id}/tokens": {"name": "stolen"},
}
QUERIES = {
    "/api/v1/datasets/{dataset_id}/rows/{row_id}/tokens": "?model=bench-llama",
    "/ui/datasets/{dataset_id}/rows/{row_id}/tokens": "?model=bench-llama",
}
FORM = {
    "name": "x",
    "archived": "1",
    "drop_row_ids": "x",
    "model": "bench-llama",
    "bleu_rouge": "on",
    "priority": "5",
}


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


def _known(path: str, param: str) -> bool:
    if param in VERBS:
        return path in VERBS[param]  # a verb of a route the matrix has not seen yet is unknown too
    return param in OWNED or param in DETAIL or param in SHARED or param in ADMIN_ONLY


def test_every_id_route_is_in_the_matrix(world: World) -> None:
    routes = id_routes(world.app)
    unknown = {(method, path, p) for method, path, params in routes for p in params if not _known(path, p)}
    assert not unknown, (
        f"routes taking an id the IDOR matrix does not know (add them to OWNED/...): {unknown}"
    )
    assert len(id_routes(world.app)) >= 40


def _url(world: World, path: str, verbs: dict[str, str] | None = None) -> str:
    values = {
        **{k: getattr(world, v) for k, v in OWNED.items()},
        **{k: getattr(world, v) for k, v in ADMIN_ONLY.items()},
        **DETAIL,
        "model_id": world.model_id,
        **(verbs or {}),
    }
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: str(values[m.group(1)]), path) + QUERIES.get(path, "")


def _verb_values(path: str, params: list[str]) -> list[dict[str, str]]:
    """One dict per combination of the route's verb parameters ([{}] when it has none)."""
    combos: list[dict[str, str]] = [{}]
    for param in params:
        if param in VERBS:
            combos = [{**c, param: value} for c in combos for value in VERBS[param][path]]
    return combos


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
    if expected == 403 and response.status_code == 404:
        return True  # an admin route may also hide that it exists
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
        if set(params) & SHARED or not set(params) & (set(OWNED) | set(ADMIN_ONLY)):
            continue
        admin_route = set(params) & set(ADMIN_ONLY) or path.startswith(("/api/v1/admin/", "/admin/"))
        expected = 403 if admin_route else 404
        for verbs in _verb_values(path, params):
            url = _url(world, path, verbs)
            response = _request(world.bob, method, path, url)
            tried += 1
            if not _refused(path, expected, response):
                wrong.append(f"{method} {url} -> {response.status_code} {response.text[:120]!r}")
    assert not wrong, "bob reached alice's objects:\n" + "\n".join(wrong)
    assert tried >= 60
    assert snapshot(world.data_dir) == before, "a refused request changed something"
    # The snapshot leaves the workers table out (heartbeats move it); the drain flag must not have moved.
    assert not _draining(world.worker_id), "bob drained a worker"


def _draining(worker_id: str) -> bool:
    from app.db import session_scope
    from app.models import WorkerNode

    with session_scope() as session:
        return session.get(WorkerNode, worker_id).draining  # type: ignore[union-attr]


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
    # Serving, playground and synthesis take ids in bodies and queries as well.
    opened = world.bob.post("/api/v1/playground/open", json={"deployment_id": world.deployment_id})
    assert opened.status_code == 404, opened.text
    playground = world.bob.get(f"/playground?deployment_id={world.deployment_id}")
    assert playground.status_code == 404
    chat = world.bob.post(
        "/api/v1/playground/chat",
        json={
            "deployment_id": world.deployment_id,
            "conversation_id": world.conversation_id,
            "content": "hi",
        },
    )
    assert chat.status_code == 404, chat.text
    synth = {"model": "m", "base_url": "https://llm.example/v1", "topics": ["tea"]}
    for extra in ({"template_id": world.template_id}, {"secret_id": world.secret_id}):
        started = world.bob.post("/api/v1/datasets/synthesize", json={**synth, **extra})
        assert started.status_code == 404, (extra, started.text)
    assert snapshot(world.data_dir) == before


def test_lists_show_only_your_own_and_the_admin_sees_all(world: World) -> None:
    lists = ("datasets", "jobs", "evaluations", "deployments", "conversations", "synthesis/templates",
             "synthesis/secrets")  # fmt: skip
    for url, key in ((f"/api/v1/{name}", "id") for name in lists):
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
        f"/api/v1/deployments/{world.deployment_id}",
        f"/api/v1/conversations/{world.conversation_id}",
        f"/api/v1/synthesis/templates/{world.template_id}",
    ):
        assert client.get(url).status_code == 200, (who, url)
    assert world.secret_id in {s["id"] for s in client.get("/api/v1/synthesis/secrets").json()}, who
    download = client.get(f"/api/v1/exports/{world.export_id}/download")
    assert download.status_code == 200 and download.content[:2] == b"PK"
