"""The queue's rules without worker processes: known queues, start order, claiming, positions, the admin
API and the CLI, and an exhausted connection pool answering 503 (not 500, not a hang)."""

from __future__ import annotations

import threading

import pytest

from app.broker_fs import check_queue_name
from tests.clients import studio_client
from tests.queue.helpers import add_sleep_jobs, job_row


def _worker_row(worker_id: str, queues: list[str], devices: list[dict] | None = None) -> None:
    from app.db import session_scope
    from app.models import WorkerNode, utcnow

    with session_scope() as session:
        session.merge(
            WorkerNode(
                id=worker_id,
                hostname="h",
                pid=1,
                queues=queues,
                accelerators={},
                status="online",
                started_at=utcnow(),
                last_seen_at=utcnow(),
                devices=devices or [],
                draining=False,
            )
        )


def _claim(worker_id: str) -> int | None:
    from app.db import session_scope
    from app.jobs.scheduling import claim_next

    with session_scope() as session:
        return claim_next(session, worker_id)


def test_queue_names_are_a_known_set_and_bad_ones_leave_no_row(embedded_studio) -> None:
    from app.db import session_scope
    from app.models import Job

    client = studio_client()
    for name in ("nobody-listens-here", "..", "a/b", "../../etc"):
        response = client.post(
            "/api/v1/jobs", json={"dataset_id": 1, "base_model": "x", "queue": name, "hyperparameters": {}}
        )
        # The queue is checked before anything is looked up or written.
        assert response.status_code == 422 and response.json()["field"] == "queue", response.text
    from app.errors import InvalidInput
    from app.jobs.service import checked_queue

    for name in ("nobody-listens-here", "..", "a/b"):
        with pytest.raises(InvalidInput) as raised:
            checked_queue(name)
        assert raised.value.field == "queue" and "Unknown queue" in raised.value.message
    assert checked_queue(None) == embedded_studio.queue and checked_queue("cpu") == "cpu"
    with session_scope() as session:
        assert session.query(Job).count() == 0
    # The folder broker itself refuses path-like queue names (they would become file names).
    for bad in ("..", "a/b", "../x", "", "x" * 300, "a\\b"):
        with pytest.raises(ValueError):
            check_queue_name(bad)
    assert check_queue_name("gpu") == "gpu"


def test_order_is_priority_then_owner_turns_then_fifo_and_claims_follow_it(embedded_studio) -> None:
    from app.db import session_scope
    from app.models import User

    with session_scope() as session:
        session.add(User(id=2, name="other", role="member", created_at=job_created()))
    low = add_sleep_jobs(2, priority=0)  # owner 1
    other = add_sleep_jobs(2, priority=0, owner_id=2)
    high = add_sleep_jobs(1, priority=5)
    client = studio_client()
    queue = client.get("/api/v1/admin/queue").json()
    # Priority first; then owners take turns (owner 1 already has the high one), FIFO within an owner.
    assert [j["id"] for j in queue] == [high[0], other[0], low[0], other[1], low[1]]
    assert [j["queue_position"] for j in queue] == [1, 2, 3, 4, 5]
    assert client.get(f"/api/v1/jobs/{low[1]}").json()["queue_position"] == 5
    # Move to top, set a priority: the order follows.
    assert client.post(f"/api/v1/admin/jobs/{other[1]}/top").json()["queue_position"] == 1
    assert (
        client.post(f"/api/v1/admin/jobs/{high[0]}/priority", json={"priority": -1}).json()["priority"] == -1
    )
    assert client.post(f"/api/v1/admin/jobs/{high[0]}/priority", json={"priority": "x"}).status_code == 422
    order = [j["id"] for j in client.get("/api/v1/admin/queue").json()]
    assert order == [other[1], low[0], low[1], other[0], high[0]]
    # A worker claims in exactly that order; a worker on another queue claims nothing.
    _worker_row("w1", [embedded_studio.queue])
    _worker_row("w-elsewhere", ["cpu"])
    assert _claim("w-elsewhere") is None
    claimed = [_claim("w1") for _ in order]
    assert claimed == order and _claim("w1") is None
    first = job_row(order[0])
    assert first["status"] == "running" and first["worker_id"] == "w1" and first["attempts"] == 1
    job = client.get(f"/api/v1/jobs/{low[0]}").json()  # owner 1: what this (legacy) request may read
    assert job["worker"] == "w1" and job["attempts"] == 1 and job["queue_position"] is None


def job_created():  # type: ignore[no-untyped-def]
    from app.models import utcnow

    return utcnow()


def test_racing_workers_claim_each_job_exactly_once(real_studio) -> None:
    """Eight threads (separate connections) claim 40 jobs on PostgreSQL: every job once, none twice."""
    ids = add_sleep_jobs(40)
    for index in range(8):
        _worker_row(f"racer-{index}", [real_studio.queue])
    won: list[list[int]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def race(index: int) -> None:
        barrier.wait()
        while (job_id := _claim(f"racer-{index}")) is not None:
            won[index].append(job_id)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [job_id for claims in won for job_id in claims]
    assert sorted(every) == sorted(ids), "each job claimed exactly once"
    assert all(job_row(job_id)["attempts"] == 1 for job_id in ids)


def test_placement_needs_the_planned_devices_on_one_node(embedded_studio) -> None:
    from app.jobs.scheduling import fits

    gpu = {"kind": "gpu", "memory_total_bytes": 24 << 30}
    two_gpus = [dict(gpu, index=0), dict(gpu, index=1)]
    assert fits({"processes": 2, "gpu_memory_bytes": 20 << 30}, two_gpus)
    assert not fits({"processes": 3, "gpu_memory_bytes": 1}, two_gpus)  # all on one node, or not here
    assert not fits({"processes": 1, "gpu_memory_bytes": 30 << 30}, two_gpus)
    cpu = [{"kind": "cpu", "cores": 2, "memory_total_bytes": 8 << 30}]
    assert fits({"processes": 2, "cpu_memory_bytes": 1 << 30}, cpu)
    assert not fits({"processes": 4}, cpu) and not fits({"processes": 1, "cpu_memory_bytes": 16 << 30}, cpu)
    # Claiming skips what does not fit and takes the next job that does.
    from app.db import session_scope
    from app.models import Job

    big, small = add_sleep_jobs(2)
    with session_scope() as session:
        session.get(Job, big).requested_resources = {"processes": 4}
    _worker_row("small", [embedded_studio.queue], cpu)
    assert _claim("small") == small and _claim("small") is None


def test_admin_workers_drain_undrain_and_requeue(embedded_studio) -> None:
    client = studio_client()
    _worker_row("host:42", [embedded_studio.queue], [{"kind": "cpu", "cores": 2, "memory_total_bytes": 1}])
    workers = client.get("/api/v1/admin/workers").json()
    assert {"id", "hostname", "pid", "status", "devices", "current_job_id"} <= set(workers[0])
    assert workers[0]["status"] == "online" and workers[0]["devices"][0]["cores"] == 2
    assert client.post("/api/v1/admin/workers/host:42/drain").json()["status"] == "draining"
    (job_id,) = add_sleep_jobs(1)
    assert _claim("host:42") is None, "a draining worker takes no job"
    assert client.post("/api/v1/admin/workers/host:42/undrain").json()["status"] == "online"
    assert _claim("host:42") == job_id
    assert client.post("/api/v1/admin/workers/nope/drain").status_code == 404
    # Cancel a running job through the admin API; re-queue it: it is queued again for one more run.
    assert client.post(f"/api/v1/admin/jobs/{job_id}/requeue").status_code == 409
    assert client.post(f"/api/v1/admin/jobs/{job_id}/cancel").json()["cancel_requested"] is True
    from app.db import session_scope
    from app.models import Job

    with session_scope() as session:
        session.get(Job, job_id).status = "cancelled"
    again = client.post(f"/api/v1/admin/jobs/{job_id}/requeue").json()
    assert again["status"] == "queued" and again["queue_position"] == 1 and again["max_attempts"] >= 2
    page = client.get("/admin?lang=en").text
    assert "host:42" in page and "Move to top" in page and f'data-job-id="{job_id}"' in page


def test_lost_worker_jobs_are_requeued_with_metric_rows_after_the_checkpoint_dropped(embedded_studio) -> None:
    from app.db import session_scope
    from app.jobs.scheduling import reap_lost_jobs
    from app.models import Checkpoint, JobMetric, WorkerNode, utcnow

    (job_id,) = add_sleep_jobs(1)
    _worker_row("gone:1", [embedded_studio.queue])
    assert _claim("gone:1") == job_id
    run_dir = embedded_studio.data_dir / "runs" / f"job-{job_id}"
    (run_dir / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    with session_scope() as session:
        from app.models import Job

        job = session.get(Job, job_id)
        job.run_dir, job.kind = str(run_dir), "train"
        job.config = {"hyperparameters": {}}
        session.add(Checkpoint(job_id=job_id, step=4, path="checkpoints/checkpoint-4", created_at=utcnow()))
        for step in range(1, 7):
            session.add(JobMetric(job_id=job_id, kind="train", step=step, loss=1.0, created_at=utcnow()))
        session.get(WorkerNode, "gone:1").status = "offline"
    with session_scope() as session:
        reaped = reap_lost_jobs(session)
    assert [j.id for j in reaped.requeued] == [job_id] and reaped.lost_ids == [job_id]
    row = job_row(job_id)
    assert row["status"] == "queued" and row["worker_id"] is None and row["step"] == 4
    assert row["config"]["resume_from_checkpoint"].endswith("checkpoints/checkpoint-4")
    with session_scope() as session:
        steps = [m.step for m in session.query(JobMetric).filter_by(job_id=job_id).order_by(JobMetric.step)]
    assert steps == [1, 2, 3, 4], "the resumed run logs 5 and 6 again: their old rows go"
    events = studio_client().get(f"/api/v1/jobs/{job_id}/job-events").json()
    assert any("Queued again" in (e["message"] or "") for e in events)


def test_a_requeued_run_resumes_from_the_newest_whole_checkpoint_its_lost_run_left_on_disk(
    embedded_studio,
) -> None:
    """The lost worker's rows lag its run (it was killed between polls) and the Trainer's rotation already
    deleted the folder of the only checkpoint row: the re-queue alone would restart from step 0."""
    import json

    from app.db import session_scope
    from app.jobs.scheduling import reap_lost_jobs
    from app.models import Checkpoint, Job, JobMetric, WorkerNode, utcnow
    from worker.lost_run import recover_unreported_checkpoint

    (job_id,) = add_sleep_jobs(1)
    _worker_row("gone:1", [embedded_studio.queue])
    _worker_row("other:2", [embedded_studio.queue])
    assert _claim("gone:1") == job_id
    run_dir = embedded_studio.data_dir / "runs" / f"job-{job_id}"
    events = []
    for step in range(1, 19):
        events.append({"event": "train", "step": step, "loss": 2.0 - step / 20, "epoch": step / 18})
        if step % 4 == 0:
            events.append({"event": "checkpoint", "step": step, "path": f"checkpoints/checkpoint-{step}"})
    # On disk: 12 and 16 (save_total_limit 2 rotated 4 and 8 away), and 20 half-written when the kill came:
    # a folder without its event, which must not be trusted.
    for step in (12, 16, 20):
        (run_dir / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
    run_dir.joinpath("metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    with session_scope() as session:
        job = session.get(Job, job_id)
        job.run_dir, job.kind, job.config = str(run_dir), "train", {"hyperparameters": {}}
        session.add(Checkpoint(job_id=job_id, step=4, path="checkpoints/checkpoint-4", created_at=utcnow()))
        for step in range(1, 7):  # what the rows knew at the kill
            session.add(JobMetric(job_id=job_id, kind="train", step=step, loss=1.0, created_at=utcnow()))
        session.get(WorkerNode, "gone:1").status = "offline"
    with session_scope() as session:
        assert [j.id for j in reap_lost_jobs(session).requeued] == [job_id]
    assert "resume_from_checkpoint" not in job_row(job_id)["config"], "the rows alone name no folder left"
    assert _claim("other:2") == job_id

    with session_scope() as session:
        job = session.get(Job, job_id)
        assert recover_unreported_checkpoint(session, job, run_dir) == 16
    row = job_row(job_id)
    assert row["config"]["resume_from_checkpoint"] == str(run_dir / "checkpoints" / "checkpoint-16")
    assert row["step"] == 16 and row["result"]["first_step"] == 16
    with session_scope() as session:
        steps = [m.step for m in session.query(JobMetric).filter_by(job_id=job_id).order_by(JobMetric.step)]
        checkpoints = {c.step: c.deleted for c in session.query(Checkpoint).filter_by(job_id=job_id)}
        assert recover_unreported_checkpoint(session, session.get(Job, job_id), run_dir) is None, "only once"
    assert steps == list(range(1, 17)), "the lost run's steps up to the checkpoint become rows, once each"
    assert checkpoints == {4: True, 8: True, 12: False, 16: False}
    events = studio_client().get(f"/api/v1/jobs/{job_id}/job-events").json()
    assert any("checkpoint at step 16" in (e["message"] or "") for e in events)


def test_a_full_connection_pool_answers_503_quickly(embedded_studio, monkeypatch) -> None:
    from app.db import engine_for, get_engine
    from app.settings import get_settings, reset_settings_cache

    monkeypatch.setenv("FTSTUDIO_DB_POOL_SIZE", "1")
    monkeypatch.setenv("FTSTUDIO_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("FTSTUDIO_DB_POOL_TIMEOUT_SECONDS", "0.5")
    reset_settings_cache()
    engine_for.cache_clear()
    try:
        # Signed in before the pool fills: tests/clients.py makes the token in this same database. The
        # request's token lookup (the sign-in middleware) is then what meets the full pool.
        client = studio_client()
        held = get_engine().connect()  # the only connection, held as a slow request would
        try:
            response = client.get("/api/v1/jobs")
            assert response.status_code == 503 and response.headers["Retry-After"]
            assert "busy" in response.json()["detail"]
            assert client.get("/api/v1/health").status_code == 200
        finally:
            held.close()
        assert client.get("/api/v1/jobs").status_code == 200
    finally:
        get_engine().dispose()
        engine_for.cache_clear()
        monkeypatch.undo()
        reset_settings_cache()
        assert get_settings().db_pool_size == 20


def test_admin_cli_reads_and_steers_the_queue(embedded_studio) -> None:
    import json
    import subprocess
    import sys

    from app.migrations import REPO_ROOT

    first, second = add_sleep_jobs(2)
    _worker_row(
        "cli:7", [embedded_studio.queue], [{"kind": "cpu", "cores": 2, "memory_total_bytes": 8 << 30}]
    )

    def ftstudio(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli.main",
                "admin",
                *args,
                "--data-dir",
                str(embedded_studio.data_dir),
            ],
            cwd=REPO_ROOT,
            env=embedded_studio.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert "job 2 priority 1 position 1" in ftstudio("top", str(second)).stdout
    queue = json.loads(ftstudio("queue", "--json").stdout)
    assert [j["id"] for j in queue] == [second, first]
    workers = ftstudio("workers")
    assert "cli:7" in workers.stdout and "CPU 2 cores 8 GiB" in workers.stdout
    assert ftstudio("drain", "cli:7").returncode == 0
    from app.db import session_scope
    from app.models import WorkerNode

    with session_scope() as session:  # (its status may read offline by now: nothing beats for this fake row)
        assert session.get(WorkerNode, "cli:7").draining is True
    missing = ftstudio("top", "999")
    assert missing.returncode == 1 and "999" in missing.stderr
