"""Fixtures of the live-view / dashboard / webhook tests: a studio (PostgreSQL + Redis, or embedded SQLite)
from tests/spine, an in-process client through tests/clients.py, and helpers that write rows directly
(a job nobody runs, its metrics and scores) so the pages and streams can be checked without training."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.clients import studio_client
from tests.spine.conftest import embedded, make_studio, tiny_model_dir  # noqa: F401 (fixture re-export)
from tests.spine.studio import Studio


@pytest.fixture(scope="module", params=["real", "embedded"])
def studio(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    yield from make_studio(request.param, tmp_path_factory.mktemp(f"dash-{request.param}"))


@pytest.fixture(scope="module")
def client(studio: Studio) -> Iterator[Any]:
    from app.web import create_app

    with studio_client(create_app()) as test_client:
        yield test_client


def add_job(**fields: Any) -> int:
    """A train job row that no worker will take (nothing is enqueued)."""
    from app.db import session_scope
    from app.models import LOCAL_USER_ID, Job

    values: dict[str, Any] = {"owner_id": LOCAL_USER_ID, "kind": "train", "status": "queued", "config": {}}
    values.update(fields)
    with session_scope() as session:
        job = Job(**values)
        session.add(job)
        session.flush()
        return job.id


def add_metric(job_id: int, step: int, **fields: Any) -> int:
    from app.db import session_scope
    from app.models import JobMetric, utcnow

    with session_scope() as session:
        row = JobMetric(
            job_id=job_id, step=step, kind=fields.pop("kind", "train"), created_at=utcnow(), **fields
        )
        session.add(row)
        session.flush()
        return row.id


def add_score(job_id: int, suite: str, metric: str, value: float, domain: str | None = None) -> None:
    from app.db import session_scope
    from app.models import Score, utcnow

    with session_scope() as session:
        session.add(
            Score(job_id=job_id, suite=suite, metric=metric, domain=domain, value=value, created_at=utcnow())
        )


def job_events(job_id: int, kind: str) -> list[Any]:
    from app.db import session_scope
    from app.jobs.repository import JobRepository

    with session_scope() as session:
        return [(e.message, dict(e.data)) for e in JobRepository(session).events(job_id) if e.kind == kind]


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that checks each body's HMAC-SHA256 signature; it answers
    ``fail_first`` requests with 500 before it accepts."""

    def __init__(self, secret: str | None, fail_first: int = 0) -> None:
        self.secret, self.fail_first = secret, fail_first
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                signature = self.headers.get("X-FTStudio-Signature-256")
                valid = None
                if receiver.secret is not None:
                    expected = (
                        "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                    )
                    valid = signature is not None and hmac.compare_digest(expected, signature)
                with receiver.lock:
                    receiver.requests.append(
                        {"body": json.loads(body), "valid": valid, "headers": dict(self.headers), "raw": body}
                    )
                    failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(500 if failing or valid is False else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ftstudio"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    made: list[WebhookReceiver] = []

    def make(secret: str | None, fail_first: int = 0) -> WebhookReceiver:
        made.append(WebhookReceiver(secret, fail_first))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """Parses a text/event-stream into (event, data) pairs as they arrive."""
    event, data = None, []
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and event is not None:
            yield event, json.loads("\n".join(data))
            event, data = None, []


def write_log(run_dir: Path, lines: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "train.log").open("w", encoding="utf-8") as handle:
        for i in range(lines):
            handle.write(f"line {i} 训练\n")
