"""Compare API and page (differences marked, scores from evaluation jobs, scoping), the logs endpoint, and
webhooks delivered to a real HTTP server on 127.0.0.1 that checks the HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import add_job, add_metric, add_score, job_events, write_log
from tests.spine.studio import Studio


def _config(lr: float, method: str = "lora") -> dict[str, Any]:
    return {
        "method": method,
        "base_model": {"id": "tiny-llama"},
        "dataset": {"id": 1, "version": 2},
        "hyperparameters": {"learning_rate": lr, "lora_r": 8, "max_steps": 3},
    }


@pytest.fixture(scope="module")
def two_runs(studio: Studio) -> tuple[int, int]:
    a = add_job(name="run-a", method="lora", status="succeeded", step=3, total_steps=3, config=_config(1e-3))
    b = add_job(name="run-b", method="lora", status="succeeded", step=3, total_steps=3, config=_config(5e-4))
    for job_id, scale in ((a, 1.0), (b, 0.8)):
        for step in (1, 2, 3):
            add_metric(job_id, step, loss=scale * (3 - step * 0.5), learning_rate=1e-3)
        add_metric(job_id, 3, kind="eval", eval_loss=scale * 2.0)
    add_score(a, "quick", "accuracy", 0.5)  # the train job's own (quick evaluation) row
    evaluation = add_job(kind="eval", status="succeeded", parent_job_id=b, config={})
    add_score(evaluation, "bleu_rouge", "bleu-4", 12.5)  # an evaluation job run on run-b
    add_score(evaluation, "mmcu", "accuracy", 0.31, domain="medical")
    return a, b


def test_compare_api_returns_curves_configs_and_scores_with_differences(
    client: Any, two_runs: tuple[int, int]
) -> None:
    a, b = two_runs
    response = client.get(f"/api/v1/jobs/compare?ids={a},{b}")
    assert response.status_code == 200, response.text
    data = response.json()
    assert [run["job"]["id"] for run in data["runs"]] == [a, b]
    assert data["runs"][0]["train_loss"] == [[1, 2.5], [2, 2.0], [3, 1.5]]
    assert data["runs"][1]["eval_loss"] == [[3, pytest.approx(1.6)]]
    config = {row["key"]: row for row in data["config"]}
    assert config["hyperparameters.learning_rate"] == {
        "key": "hyperparameters.learning_rate",
        "values": [1e-3, 5e-4],
        "differs": True,
    }
    assert config["hyperparameters.lora_r"]["differs"] is False
    assert config["method"]["values"] == ["lora", "lora"] and not config["method"]["differs"]
    assert config["dataset_version"]["values"] == [2, 2]
    scores = {row["key"]: row["values"] for row in data["scores"]}
    assert scores == {
        "quick/accuracy": [0.5, None],
        "bleu_rouge/bleu-4": [None, 12.5],
        "mmcu/accuracy/medical": [None, 0.31],
    }
    # The checkboxes' form (ids=1&ids=2) reads the same.
    assert client.get(f"/api/v1/jobs/compare?ids={a}&ids={b}").json()["config"] == data["config"]


@pytest.mark.parametrize(
    ("query", "status", "needle"),
    [("ids=1", 422, "at least two"), ("ids=1,x", 422, "'x'"), ("ids=1,987654", 404, "987654")],
)
def test_compare_api_rejects_bad_ids(
    client: Any, two_runs: tuple[int, int], query: str, status: int, needle: str
) -> None:
    a, _ = two_runs
    response = client.get(f"/api/v1/jobs/compare?{query.replace('1', str(a), 1)}")
    assert response.status_code == status, response.text
    assert needle in response.json()["detail"]


def test_compare_page_marks_differing_values(client: Any, two_runs: tuple[int, int]) -> None:
    a, b = two_runs
    page = client.get(f"/jobs/compare?ids={a},{b}&lang=en")
    assert page.status_code == 200
    marked = {
        key: cls for cls, key in re.findall(r'<tr class="(differs|same)" data-key="([^"]+)"', page.text)
    }
    assert marked["hyperparameters.learning_rate"] == "differs"
    assert marked["hyperparameters.lora_r"] == "same" and marked["bleu_rouge/bleu-4"] == "differs"
    assert f'data-ids="{a},{b}"' in page.text and "/static/js/compare.js" in page.text
    assert "<script>" not in page.text  # charts come from static files (a strict CSP forbids inline code)
    zh = client.get(f"/jobs/compare?ids={a},{b}&lang=zh").text
    assert "对比训练" in zh and "不同之处已标出" in zh
    eval_job = add_job(kind="eval", status="queued")  # a job page without training charts renders too
    for job_id, lang in ((a, "zh"), (eval_job, "en")):
        detail = client.get(f"/jobs/{job_id}?lang={lang}")
        assert detail.status_code == 200 and ('id="loss-chart"' in detail.text) == (job_id == a)
    assert "平滑" in client.get(f"/jobs/{a}?lang=zh").text  # the smoothing slider's label
    bad = client.get(f"/jobs/compare?ids={a}&lang=en")
    assert bad.status_code == 422 and "at least two" in bad.text


def test_job_list_offers_compare_picks_and_progress(client: Any, two_runs: tuple[int, int]) -> None:
    running = add_job(name="running", status="running", step=4, total_steps=10)
    table = client.get("/ui/jobs/table?lang=en").text
    assert f'name="ids" value="{two_runs[0]}"' in table
    row = table.split(f'data-job-id="{running}"', 1)[1].split("</tr>", 1)[0]
    assert '<progress class="job-bar" max="100" value="40.0"' in row and "4 / 10" in row


def test_logs_endpoint_tails_the_child_log(client: Any, studio: Studio, tmp_path: Path) -> None:
    run_dir = tmp_path / "job-logs"
    write_log(run_dir, 500)
    job_id = add_job(status="running", run_dir=str(run_dir))
    response = client.get(f"/api/v1/jobs/{job_id}/logs?tail=5")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["available"] and body["lines"] == [f"line {i} 训练" for i in range(495, 500)]
    assert body["size_bytes"] == (run_dir / "train.log").stat().st_size
    assert len(client.get(f"/api/v1/jobs/{job_id}/logs").json()["lines"]) == 100  # the default
    assert client.get(f"/api/v1/jobs/{job_id}/logs?tail=0").status_code == 422
    assert client.get(f"/api/v1/jobs/{job_id}/logs?tail=5000").status_code == 422
    assert client.get("/api/v1/jobs/987654/logs").status_code == 404
    never_ran = add_job(status="queued")
    assert client.get(f"/api/v1/jobs/{never_ran}/logs").json() == {
        "job_id": never_ran,
        "available": False,
        "lines": [],
        "size_bytes": 0,
    }
    fragment = client.get(f"/ui/jobs/{job_id}/logs?tail=3&lang=en")
    assert (
        fragment.status_code == 200 and "line 499 训练" in fragment.text and "line 496" not in fragment.text
    )
    # A finished job's log no longer grows: 286 tells htmx to stop polling it.
    finished = add_job(status="succeeded", run_dir=str(run_dir))
    assert client.get(f"/ui/jobs/{finished}/logs?tail=3").status_code == 286


def test_webhook_url_is_validated_on_the_job_request(client: Any, studio: Studio) -> None:
    body = {"dataset_id": 1, "base_model": "x", "webhook_url": "ftp://example.com/hook"}
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 422 and "webhook_url" in response.json()["detail"]


@pytest.fixture
def webhook_settings(monkeypatch: pytest.MonkeyPatch) -> Any:
    from app.settings import reset_settings_cache

    def apply(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"FTSTUDIO_{key.upper()}", value)
        reset_settings_cache()

    yield apply
    monkeypatch.undo()
    reset_settings_cache()


def test_webhook_is_signed_and_retried_until_the_server_accepts(
    studio: Studio, receiver_factory: Any, webhook_settings: Any
) -> None:
    from worker.notify import job_reached_final_state, wait_for_deliveries

    secret = "s3cret-" + "x" * 20
    server = receiver_factory(secret, fail_first=2)
    webhook_settings(webhook_secret=secret, webhook_backoff_seconds="0.05", webhook_max_attempts="4")
    job_id = add_job(name="hooked", status="succeeded", step=7, config={"webhook_url": server.url})
    job_reached_final_state(job_id, "succeeded")
    wait_for_deliveries(timeout=30)
    assert len(server.requests) == 3
    assert all(r["valid"] for r in server.requests)  # every attempt carries a valid signature
    first = server.requests[0]
    assert first["body"]["event"] == "job.succeeded" and first["body"]["job"]["id"] == job_id
    assert first["body"]["job"]["step"] == 7 and first["headers"]["X-FTStudio-Event"] == "job.succeeded"
    # One delivery id for the retries of one notification: a receiver can deduplicate.
    assert len({r["headers"]["X-FTStudio-Delivery"] for r in server.requests}) == 1
    expected = "sha256=" + hmac.new(secret.encode(), server.requests[2]["raw"], hashlib.sha256).hexdigest()
    assert server.requests[2]["headers"]["X-FTStudio-Signature-256"] == expected
    attempts = job_events(job_id, "webhook")
    assert [data["attempt"] for _, data in attempts] == [1, 2, 3]
    assert [data["ok"] for _, data in attempts] == [False, False, True]
    assert attempts[0][1]["status_code"] == 500 and "will retry" in attempts[0][0]
    assert "delivered" in attempts[2][0]
    # The secret appears nowhere the user can read; the URL's path (tokens live there) neither.
    recorded = json.dumps(attempts, ensure_ascii=False)
    assert secret not in recorded and "/hooks/ftstudio" not in recorded
    assert server.url.rsplit("/hooks", 1)[0] in recorded


def test_webhook_gives_up_after_the_bounded_attempts_and_skips_statuses_without_events(
    studio: Studio, receiver_factory: Any, webhook_settings: Any
) -> None:
    from worker.notify import collapse_flagged, job_reached_final_state, wait_for_deliveries

    server = receiver_factory("k", fail_first=100)
    webhook_settings(
        webhook_url=server.url, webhook_secret="k", webhook_backoff_seconds="0.01", webhook_max_attempts="3"
    )
    cancelled = add_job(status="cancelled")
    job_reached_final_state(cancelled, "cancelled")  # cancelling is the user's own act: no webhook
    failed = add_job(status="failed", error="boom")
    job_reached_final_state(failed, "failed")
    wait_for_deliveries(timeout=30)
    assert [r["body"]["job"]["id"] for r in server.requests] == [failed] * 3
    assert server.requests[0]["body"]["job"]["error"] == "boom"
    attempts = job_events(failed, "webhook")
    assert len(attempts) == 3 and "giving up" in attempts[-1][0] and not attempts[-1][1]["ok"]
    assert job_events(cancelled, "webhook") == []
    flagged = add_job(status="running")
    collapse_flagged(flagged, {"step": 5, "reason": "loss is NaN", "action": "stop"})
    wait_for_deliveries(timeout=30)
    collapse = [r["body"] for r in server.requests if r["body"]["job"]["id"] == flagged]
    assert collapse[0]["event"] == "job.collapse_flagged" and collapse[0]["collapse"]["step"] == 5


def test_an_unreachable_webhook_is_recorded_not_raised(studio: Studio, webhook_settings: Any) -> None:
    from worker.notify import job_reached_final_state, wait_for_deliveries

    webhook_settings(webhook_backoff_seconds="0", webhook_max_attempts="2", webhook_timeout_seconds="2")
    job_id = add_job(status="interrupted", config={"webhook_url": "http://127.0.0.1:1/hook?token=abc"})
    job_reached_final_state(job_id, "interrupted")
    wait_for_deliveries(timeout=30)
    attempts = job_events(job_id, "webhook")
    assert len(attempts) == 2 and attempts[0][1]["error"].startswith("ConnectError")
    assert attempts[0][1]["signed"] is False  # no secret configured: sent unsigned, and said so
    assert "token=abc" not in json.dumps(attempts)


def test_event_sink_wakes_watchers_and_notifies_collapse_only_after_commit(
    studio: Studio, receiver_factory: Any, webhook_settings: Any, tmp_path: Path
) -> None:
    from app.db import session_scope
    from app.jobs.live import channel
    from app.jobs.repository import JobRepository
    from worker.event_sink import EventSink
    from worker.notify import wait_for_deliveries

    server = receiver_factory(None)
    webhook_settings(webhook_url=server.url, webhook_backoff_seconds="0")
    job_id = add_job(status="running", run_dir=str(tmp_path))
    pubsub = None
    if studio.mode == "real":
        import redis

        pubsub = redis.Redis.from_url(studio.env["REDIS_URL"]).pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(channel(job_id))
        pubsub.get_message(timeout=1)  # the subscribe confirmation
    sink = EventSink(job_id, tmp_path)
    events = [
        {"event": "train", "step": 1, "loss": 2.0},
        {"event": "collapse", "step": 1, "reason": "loss jumped 10x", "action": "flag"},
    ]
    with session_scope() as session:
        sink.apply(session, JobRepository(session).get(job_id), events)
        # Nothing is announced before the rows are committed: a woken reader would find nothing.
        assert server.requests == []
        if pubsub is not None:
            assert pubsub.get_message(timeout=0.3) is None
    wait_for_deliveries(timeout=30)
    assert [r["body"]["event"] for r in server.requests] == ["job.collapse_flagged"]
    assert server.requests[0]["body"]["collapse"]["reason"] == "loss jumped 10x"
    assert (
        server.requests[0]["valid"] is None
        and "X-FTStudio-Signature-256" not in server.requests[0]["headers"]
    )
    if pubsub is not None:
        message = pubsub.get_message(timeout=2)
        assert message and json.loads(message["data"])["job_id"] == job_id
        pubsub.close()


def test_job_list_shows_the_queue_position_of_queued_jobs_only(client: Any) -> None:
    """The list (page and its htmx table) shows each queued job's place in the queue, the same number the
    API gives (app/jobs/scheduling.queue_slots); a running job shows its progress instead."""
    first = add_job(status="queued", name="waiting-first")
    second = add_job(status="queued", name="waiting-second")
    running = add_job(status="running", name="running-now")
    positions = {}
    for job_id in (first, second, running):
        read = client.get(f"/api/v1/jobs/{job_id}")
        assert read.status_code == 200, read.text
        positions[job_id] = read.json()["queue_position"]
    assert positions[running] is None
    assert positions[first] and positions[second] and positions[first] < positions[second]
    for url, headers in (("/ui/jobs/table", {"HX-Request": "true"}), ("/jobs", {})):
        page = client.get(url, headers=headers)
        assert page.status_code == 200
        rows = {
            int(m.group(1)): m.group(2)
            for m in re.finditer(r'<tr data-job-id="(\d+)"(.*?)</tr>', page.text, re.S)
        }
        for job_id in (first, second):
            shown = re.search(r'<span class="queue-position">[^<]* (\d+)</span>', rows[job_id])
            assert shown and int(shown.group(1)) == positions[job_id], (url, rows[job_id])
        assert "queue-position" not in rows[running] and "job-bar" in rows[running], rows[running]


def test_a_job_whose_worker_is_lost_sends_the_interrupted_webhook(
    studio: Studio, receiver_factory: Any, webhook_settings: Any
) -> None:
    """kill -9 of a worker never reaches its supervisor's _finish: the sweep that finds the job lost is what
    marks it interrupted, so the sweep sends the webhook (here with no attempt left, so not re-queued)."""
    from app.db import session_scope
    from app.models import WorkerNode, utcnow
    from worker.notify import wait_for_deliveries
    from worker.registry import sweep

    server = receiver_factory("lost-secret", fail_first=0)
    webhook_settings(webhook_secret="lost-secret", webhook_backoff_seconds="0.05")
    with session_scope() as session:
        session.add(
            WorkerNode(
                id="lost-host:1", hostname="lost-host", pid=1, queues=["gpu"], status="offline",
                started_at=utcnow(), last_seen_at=utcnow(),
            )
        )
    job_id = add_job(
        name="orphaned", status="running", worker_id="lost-host:1", heartbeat_at=utcnow(),
        attempts=3, max_attempts=3, config={"webhook_url": server.url},
    )
    assert sweep() == 0  # found lost, but no attempt left: interrupted, not queued again
    wait_for_deliveries(timeout=30)
    assert [r["body"]["event"] for r in server.requests] == ["job.interrupted"]
    assert server.requests[0]["valid"] and server.requests[0]["body"]["job"]["id"] == job_id
    assert job_events(job_id, "webhook")[0][1]["ok"] is True
