"""Every upload, form and JSON endpoint, fed malformed, oversized, traversal-named and binary input: each
answers 4xx with a message (an htmx fragment may answer 200 with the message inside), and nothing is
left behind (rows in the database, files in the data directory). Endpoints are read from the route
table, so a new one is covered without being listed here."""

from __future__ import annotations

import os

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.hardening.conftest import chat, jsonl, upload

MISSING_ID = "999999"
BINARY = os.urandom(4096)
TRAVERSAL = "../../../../etc/passwd"
# POSTs that compute and write nothing: a page fragment drawn from defaults when its form is unreadable.
FREE_LABEL_FORMS = {"/account/tokens"}  # a new API token's name: any printable text
READ_ONLY_POSTS = {"/ui/plans/breakdown", "/logout"}  # /logout reads no body: it signs out whatever comes


def write_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(route.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            found.append((method, context.path or ""))
    return found


def _url(path: str) -> str:
    import re

    return re.sub(r"\{\w+\}", MISSING_ID, path)


def _has_message(response) -> bool:  # type: ignore[no-untyped-def]
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        if not isinstance(body, dict):
            return False
        if isinstance(body.get("error"), dict):  # the OpenAI-compatible /v1 routes answer in OpenAI's shape
            return bool(str(body["error"].get("message", "")).strip())
        return bool(str(body.get("detail", "")).strip())
    return len(response.text.strip()) > 0


def _ok_refusal(path: str, response) -> bool:  # type: ignore[no-untyped-def]
    if 400 <= response.status_code < 500:
        return _has_message(response)
    # Pages and htmx fragments show the form again with the message (htmx swaps only 2xx answers).
    return not path.startswith("/api/") and response.status_code == 200 and "alert-error" in response.text


BODIES = {
    "malformed json": (b'{"name": ', "application/json"),
    "binary as json": (BINARY, "application/json"),
    "json list": (b"[1, 2, 3]", "application/json"),
    "json nested 1,100 levels": (b"[" * 1100 + b"]" * 1100, "application/json"),
    "binary as form": (BINARY, "application/x-www-form-urlencoded"),
    "traversal form": (f"name={TRAVERSAL}&path={TRAVERSAL}&file={TRAVERSAL}".encode(),
                       "application/x-www-form-urlencoded"),
    "broken multipart": (b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
                         "multipart/form-data; boundary=x"),
    "oversized json": (b'{"name": "' + b"a" * (17 * 1024 * 1024) + b'"}', "application/json"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(BODIES))
def test_every_write_endpoint_refuses_bad_bodies(client, app, unchanged, kind: str) -> None:
    content, content_type = BODIES[kind]
    failures = []
    for method, path in write_routes(app):
        if path in READ_ONLY_POSTS:
            continue
        if path.startswith("/ui/") and kind.endswith("json"):
            continue  # pages post forms; a JSON body there is the form parser's "empty form"
        if path in FREE_LABEL_FORMS and kind == "traversal form":
            continue  # its one field is a label, shown escaped and never a path: any printable name is valid
        response = client.request(method, _url(path), content=content, headers={"content-type": content_type})
        if not _ok_refusal(path, response):
            failures.append(f"{method} {path} -> {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)
    unchanged()


def test_the_write_endpoints_were_found(app) -> None:
    paths = {path for _, path in write_routes(app)}
    assert "/api/v1/datasets" in paths and "/api/v1/models" in paths and "/ui/datasets/upload" in paths


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/models", {"path": TRAVERSAL}),
        ("/api/v1/models", {"path": "/", "gguf_file": "etc/shadow"}),
        ("/api/v1/models", {"path": "x", "id": "../../etc"}),
        ("/api/v1/models", {"path": "a" * 501}),
        ("/api/v1/evaluations", {"model": TRAVERSAL, "suite": {"bleu_rouge": {"rows_path": TRAVERSAL}}}),
        ("/api/v1/evaluations", {"model": "m", "suite": {"mmcu": {"data_dir": "/etc"}}}),
        ("/api/v1/jobs", {"base_model": TRAVERSAL, "dataset_id": 1}),
        ("/api/v1/jobs", {"base_model": "m", "dataset_id": "1e20"}),
        ("/api/v1/evaluations", {"model": "m", "suite": {"bleu_rouge": {"dataset_id": 1e20}}}),
    ],
)
def test_traversal_and_out_of_range_values_in_json_bodies(client, unchanged, url: str, body: dict) -> None:
    response = client.post(url, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]
    assert "root:" not in response.text  # nothing of /etc/passwd comes back
    unchanged()


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        (TRAVERSAL, jsonl(chat())),
        ("..", jsonl(chat())),
        ("a/b.jsonl", jsonl(chat())),
        ("C:evil.jsonl", jsonl(chat())),
        ("x" * 300 + ".jsonl", jsonl(chat())),
        ("data.jsonl", BINARY),
        ("data.xlsx", BINARY),
        ("data.parquet", b"PAR1" + BINARY),
        ("data.jsonl", b"\xef\xbb\xbf"),
        ("data.csv", "问题,回答\n".encode("utf-16-le")[:-1]),
    ],
)
def test_uploads_with_bad_names_or_bytes(client, unchanged, filename: str, content: bytes) -> None:
    for url in ("/api/v1/datasets", "/ui/datasets/upload"):
        response = client.post(url, files={"file": (filename, content)})
        assert _ok_refusal(url, response) or response.status_code == 422, (url, response.status_code)
        assert 400 <= response.status_code < 500 or "alert" in response.text, (url, response.text[:300])
    unchanged()


def test_form_fields_of_the_upload_are_checked(client, unchanged) -> None:
    for form in (
        {"mapping": "{not json"},
        {"mapping": '["a"]'},
        {"near_dup_threshold": "2"},
        {"val_set_size": "-1"},
        {"max_chars": "abc"},
        {"format": TRAVERSAL},
        {"name": "\x07\x08"},
        {"name": "x" * 5000},
    ):
        response = upload(client, "ok.jsonl", jsonl(chat(), chat("二")), **form)
        assert response.status_code == 422, (form, response.text)
        assert response.json()["detail"]
    unchanged()
