"""Numbers past the database's range are a 4xx on every route that takes an id (the routes are read from
the app's route table, so a new one is checked without being listed here), and in bodies; 422 bodies
match the schema the OpenAPI document publishes."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

HUGE = (2**63, 10**30)


def id_routes(app) -> list[tuple[str, str, dict[str, type]]]:  # type: ignore[no-untyped-def]
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or "{" not in (context.path or ""):
            continue
        params = {f.name: f.field_info.annotation for f in route.dependant.path_params}
        if int not in params.values():
            continue
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, context.path, params))
    return found


def test_the_route_table_has_id_routes(app) -> None:
    routes = id_routes(app)
    assert len(routes) > 20  # the check below is generated from these
    assert any(path.startswith("/api/v1/jobs/") for _, path, _ in routes)
    assert any(path.startswith("/ui/") for _, path, _ in routes)


@pytest.mark.parametrize("huge", HUGE)
def test_every_id_route_answers_4xx_for_ids_past_the_database_range(client, app, huge: int) -> None:
    failures = []
    for method, path, params in id_routes(app):
        ints = [name for name, kind in params.items() if kind is int]
        url = path
        for name in params:
            url = url.replace("{" + name + "}", str(huge) if name in ints else "x")
        kwargs = {}
        if method in ("POST", "PUT", "PATCH"):
            kwargs = {"data": {}} if path.startswith("/ui/") else {"json": {}}
        response = client.request(method, url, **kwargs)
        # htmx fragments (/ui/...) may answer 200 with the message inside (htmx swaps only 2xx).
        shown = path.startswith("/ui/") and response.status_code == 200 and "alert-error" in response.text
        if not (400 <= response.status_code < 500 or shown):
            failures.append(f"{method} {url} -> {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("value", [1e20, 2**63, 10**30])
def test_ids_past_the_range_in_bodies_are_422(client, value) -> None:
    bodies = [
        ("/api/v1/evaluations", {"model": "nope", "suite": {"bleu_rouge": {"dataset_id": value}}}),
        ("/api/v1/jobs", {"base_model": "nope", "dataset_id": value}),
        ("/api/v1/datasets/1/flags", {"row_ids": ["a"], "flagged": True, "version": value}),
    ]
    for url, body in bodies:
        response = client.post(url, json=body)
        assert 400 <= response.status_code < 500, (url, response.status_code, response.text[:300])
        assert response.json()["detail"]


def test_422_bodies_match_the_published_schema(client) -> None:
    import jsonschema_rs  # comes with schemathesis (the dev extra)

    schema = client.get("/openapi.json").json()
    error_schema = schema["components"]["schemas"]["HTTPValidationError"]
    assert error_schema["properties"]["detail"]["type"] == "string"
    examples = [
        client.post("/api/v1/models", json={}),
        client.post("/api/v1/models", json={"path": 5}),
        client.get("/api/v1/datasets/not-a-number"),
        client.post("/api/v1/datasets", data={"name": "x"}),
    ]
    for response in examples:
        assert response.status_code == 422, response.text
        jsonschema_rs.validate(error_schema, response.json())


def test_a_field_named_path_is_named(client) -> None:
    body = client.post("/api/v1/models", json={"path": 5}).json()
    assert body["field"] == "path" and body["detail"].startswith("path:")
    body = client.post("/api/v1/models", json={}).json()
    assert body["field"] == "path"
    body = client.get("/api/v1/datasets/not-a-number").json()
    assert body["field"] == "dataset_id"
