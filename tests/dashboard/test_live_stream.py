"""The job's SSE stream: woken by Redis pub/sub in real mode, by DB polling in embedded mode or when Redis
is down; it holds no pooled DB connection while it waits. Rows are written directly (a job nobody runs),
so these run in seconds; tests/dashboard/test_live_e2e.py does the same through a real worker."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.dashboard.conftest import add_job, add_metric, sse_events
from tests.spine.studio import Studio


def _finish(job_id: int, status: str = "succeeded") -> None:
    from app.db import session_scope
    from app.jobs.live import publish
    from app.models import Job, utcnow

    with session_scope() as session:
        job = session.get(Job, job_id)
        job.status, job.finished_at = status, utcnow()
    publish(job_id, "status")


def _next(events: Any, kind: str, limit: int = 20) -> Any:
    for _ in range(limit):
        got, data = next(events)
        if got == kind:
            return data
    raise AssertionError(f"no '{kind}' event within {limit} events")


def test_stream_is_woken_by_pubsub_in_real_mode_and_polls_in_embedded(client: Any, studio: Studio) -> None:
    from app.jobs.live import publish

    job_id = add_job(status="running", total_steps=10)
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream:
        events = sse_events(stream.iter_lines())
        hello = _next(events, "stream")
        assert hello["wake"] == ("pubsub" if studio.mode == "real" else "poll")
        _next(events, "progress")
        for step in (1, 2, 3):
            add_metric(job_id, step, loss=3.0 - step / 10, learning_rate=1e-3, grad_norm=0.5)
            published = publish(job_id)
            assert published is (studio.mode == "real")  # embedded: no Redis, nothing to publish to
            metric = _next(events, "metric")
            assert metric["step"] == step and metric["loss"] == pytest.approx(3.0 - step / 10)
        _finish(job_id)
        end = _next(events, "end")
    assert end["status"] == "succeeded"
    if studio.mode == "real":
        # The stream's safety read comes every 5 s; these rows arrived within that, woken by messages.
        assert end["wakeups"]["pubsub"] >= 3, end
        assert end["wakeups"]["poll"] == 0, end
    else:
        assert end["wakeups"]["pubsub"] == 0 and end["wakeups"]["poll"] >= 1, end


def test_stream_falls_back_to_polling_when_redis_is_down(
    client: Any, studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    if studio.mode != "real":
        pytest.skip("embedded mode has no Redis to lose")
    from app.settings import reset_settings_cache

    # Nothing listens on port 1: the subscription fails and the stream polls the database instead.
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    reset_settings_cache()
    try:
        job_id = add_job(status="running")
        with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream:
            events = sse_events(stream.iter_lines())
            assert _next(events, "stream")["wake"] == "poll"
            add_metric(job_id, 1, loss=1.5)
            assert _next(events, "metric")["step"] == 1
            _finish(job_id, "failed")
            assert _next(events, "end")["status"] == "failed"
    finally:
        monkeypatch.delenv("REDIS_URL")
        reset_settings_cache()


def test_an_idle_stream_holds_no_database_connection(client: Any, studio: Studio) -> None:
    from app.db import get_engine

    job_id = add_job(status="queued")
    pool = get_engine().pool
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream:
        events = sse_events(stream.iter_lines())
        _next(events, "progress")
        samples = []
        for _ in range(12):
            time.sleep(0.1)
            samples.append(pool.checkedout())
        _finish(job_id, "cancelled")
        _next(events, "end")
    # Embedded mode reads once a second (a few ms with a connection out): one sample may catch it.
    # A stream that kept its request's session open would show 1 in every sample.
    assert samples.count(0) >= len(samples) - 1, samples


def test_stream_of_a_job_you_cannot_see_is_a_404(client: Any, studio: Studio) -> None:
    response = client.get("/api/v1/jobs/987654/events")
    assert response.status_code == 404 and "987654" in response.json()["detail"]


def test_one_subscription_wakes_every_stream_of_a_job_and_they_share_one_read(studio: Studio) -> None:
    if studio.mode != "real":
        pytest.skip("the pub/sub hub needs Redis (embedded mode polls)")
    import asyncio

    from app.jobs.live import publish
    from app.jobs.live_hub import SharedReads, hub_for, now
    from app.settings import get_settings

    async def scenario() -> tuple[list[bool], bool, int, list[int]]:
        hub = hub_for(get_settings().redis_url or "")
        assert await hub.ensure()
        watched = [hub.register(4242) for _ in range(50)]
        other = hub.register(4343)
        await asyncio.to_thread(publish, 4242)
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in watched)), 5)
        woke = [e.is_set() for e in watched]
        published_at = hub.received[4242]
        # The 50 streams woken by that message read together: one read started after it serves them all.
        calls: list[int] = []

        async def read() -> int:
            calls.append(1)
            number = len(calls)
            await asyncio.sleep(0.05)
            return number

        reads = SharedReads()
        results = await asyncio.gather(*(reads.read("k", published_at, read) for _ in range(50)))
        # A stream that needs something newer than the in-flight read does not join it.
        later = await asyncio.gather(reads.read("k", 0, read), reads.read("k", now() + 1, read))
        return woke, other.is_set(), len(calls), [*results, *later]

    woke, other_woken, calls, results = asyncio.run(scenario())
    assert all(woke) and not other_woken
    assert set(results[:50]) == {1} and calls == 3 and results[50:] == [2, 3]
