"""Two real Celery workers on PostgreSQL + a private Redis: exactly-once under load and priority, kill -9
mid-training, a lost wake-up, Redis restarting and the web server restarting mid-job."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.migrations import REPO_ROOT
from tests.clients import auth_headers, studio_client
from tests.queue.conftest import QUEUE_ENV
from tests.queue.helpers import (
    add_sleep_jobs,
    job_row,
    start_worker,
    starts,
    stop_all,
    wait_registered,
    wait_until,
)
from tests.spine.conftest import make_studio, write_dataset
from tests.spine.studio import Studio, processes_of_job

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """redis-server on its own port, so this test may restart it without touching anyone else's."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = _free_port(), folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        wait_until(lambda: _ping(redis, self.url), 20, "redis to start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _ping(redis, url: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Studio, PrivateRedis, list]]:
    import shutil

    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (needed for a private, restartable Redis)")
    from app.settings import settings_from

    tmp = tmp_path_factory.mktemp("two-workers")
    redis_server = PrivateRedis(tmp)
    redis_server.start()
    (tmp / "data").mkdir()
    setup = make_studio("real", tmp / "data")
    try:
        studio = next(setup)
        studio.env.update({**QUEUE_ENV, "REDIS_URL": redis_server.url})
        with settings_from({**QUEUE_ENV, "REDIS_URL": redis_server.url}):
            workers = [start_worker(studio, f"worker-{i}") for i in range(2)]
            for worker in workers:
                wait_registered(worker)
            yield studio, redis_server, workers
            stop_all(studio)
    finally:
        setup.close()  # make_studio's own clean-up (worker, environment, database), also after a failure
        redis_server.stop()


def _set_draining(draining: bool) -> None:
    client = studio_client()
    for worker in client.get("/api/v1/admin/workers").json():
        if worker["status"] != "offline":
            client.post(f"/api/v1/admin/workers/{worker['id']}/{'drain' if draining else 'undrain'}")


def test_200_jobs_on_two_workers_run_once_each_in_priority_order(cluster) -> None:
    studio, _redis, _workers = cluster
    _set_draining(True)  # queue everything first, so the order is the queue's, not the arrival's
    ids = []
    for priority in (0, 3, 1, 2) * 50:
        ids += add_sleep_jobs(1, priority=priority)
    _set_draining(False)

    def all_done() -> bool:
        return (
            all(job_row(i)["status"] == "succeeded" for i in ids[-5:])
            and not studio_client().get("/api/v1/admin/queue").json()
        )

    wait_until(all_done, 240, "200 jobs to finish", interval=1)
    rows = [job_row(i) for i in ids]
    assert all(r["status"] == "succeeded" for r in rows), [r for r in rows if r["status"] != "succeeded"][:3]
    assert all(r["attempts"] == 1 for r in rows) and all(starts(studio.data_dir, i) == 1 for i in ids)
    assert len({r["worker_id"] for r in rows}) == 2, "both workers took jobs"
    # Claimed best-first: of two racing workers at most one lower-priority job can start before a job.
    by_start = sorted(rows, key=lambda r: r["started_at"])
    for index, row in enumerate(by_start):
        earlier_lower = sum(1 for r in by_start[:index] if r["priority"] < row["priority"])
        assert earlier_lower <= 1, (row["id"], row["priority"], earlier_lower)


def test_a_queued_job_whose_wake_up_was_lost_still_runs(cluster) -> None:
    """The state a worker leaves when it dies between taking the message and starting the job: the row is
    queued, no message is left. A live worker's sweep wakes one for it."""
    studio, _redis, _workers = cluster
    from app.db import session_scope
    from app.jobs.repository import JobRepository
    from app.models import Job

    with session_scope() as session:
        job = JobRepository(session).add(
            Job(owner_id=1, kind="sleep", config={"steps": 1, "seconds_per_step": 0}, queue=studio.queue)
        )
        job_id = job.id
    wait_until(lambda: job_row(job_id)["status"] == "succeeded", 60, "the sweep to start the job")
    assert starts(studio.data_dir, job_id) == 1


def test_redis_restarting_mid_job_fails_nothing(cluster) -> None:
    studio, redis_server, _workers = cluster
    (job_id,) = add_sleep_jobs(1, steps=30, seconds=0.2)
    wait_until(lambda: job_row(job_id)["step"] >= 3, 60, "the job to run")
    redis_server.stop()
    time.sleep(2)
    redis_server.start()
    wait_until(lambda: job_row(job_id)["status"] == "succeeded", 120, "the job to finish after the restart")
    # The workers reconnected: a job submitted after the restart runs too.
    (after,) = add_sleep_jobs(1)
    wait_until(lambda: job_row(after)["status"] == "succeeded", 120, "a job after the restart")


def test_the_web_server_restarting_mid_job_loses_nothing(cluster) -> None:
    studio, _redis, _workers = cluster
    port = _free_port()

    def start_web() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli.main", "web", "--port", str(port)],
            cwd=REPO_ROOT,
            env=studio.env,
            stdout=(studio.data_dir / "web.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def read(job_id: int) -> dict | None:
        try:
            response = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/jobs/{job_id}", headers=auth_headers(), timeout=5
            )
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    web = start_web()
    try:
        wait_until(lambda: _healthy(port), 90, "the web server")
        (job_id,) = add_sleep_jobs(1, steps=25, seconds=0.4)
        wait_until(lambda: (read(job_id) or {}).get("status") == "running", 60, "the web to show it running")
        web.send_signal(signal.SIGTERM)
        web.wait(30)
        web = start_web()
        wait_until(lambda: _healthy(port), 90, "the web server again")
        done = wait_until(
            lambda: (job := read(job_id)) and job["status"] == "succeeded" and job,
            120,
            "the job via the new web",
        )
        assert done["attempts"] == 1 and done["progress"]["step"] == 25
        metrics = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/jobs/{job_id}/metrics", headers=auth_headers()
        ).json()
        assert [m["step"] for m in metrics] == list(range(1, 26))
    finally:
        if web.poll() is None:
            web.terminate()
            web.wait(30)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_kill_9_of_a_worker_mid_training_resumes_on_the_other_from_its_checkpoint(
    cluster, tiny_model_dir: Path, tmp_path: Path
) -> None:
    studio, _redis, workers = cluster
    client = studio_client()
    assert (
        client.post("/api/v1/models", json={"path": str(tiny_model_dir), "id": "tiny-q"}).status_code == 201
    )
    path = write_dataset(tmp_path / "rows.jsonl")
    with path.open("rb") as handle:
        dataset = client.post(
            "/api/v1/datasets", files={"file": (path.name, handle)}, data={"val_set_size": "0"}
        )
    assert dataset.status_code == 201, dataset.text
    hp = {
        "max_steps": 24,
        "save_steps": 4,
        "logging_steps": 1,
        "max_seq_length": 64,
        "per_device_train_batch_size": 2,
    }
    job = client.post(
        "/api/v1/jobs",
        json={
            "dataset_id": dataset.json()["id"],
            "base_model": "tiny-q",
            "method": "lora",
            "hyperparameters": hp,
        },
    ).json()
    job_id = job["id"]
    first = wait_until(
        lambda: (j := client.get(f"/api/v1/jobs/{job_id}").json())["progress"]["step"] >= 6 and j,
        300,
        "step 6",
    )
    victim = next(w for w in workers if f":{w.pid}" in first["worker"])
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    # The training child does not go on alone (PDEATHSIG and the orphan guard): gone at once, well before
    # the other worker may take the job (the heartbeat window is 6 s here).
    wait_until(lambda: not processes_of_job(studio.data_dir, job_id), 4, "the child to stop", interval=0.2)
    done = wait_until(
        lambda: (j := client.get(f"/api/v1/jobs/{job_id}").json())["status"] in ("succeeded", "failed") and j,
        300,
        "the job to finish on the other worker",
    )
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 2 and done["worker"] != first["worker"]
    events = client.get(f"/api/v1/jobs/{job_id}/job-events").json()
    # From a checkpoint, not from the start, even when the rows lagged the run at the kill and rotation had
    # removed the folders they named (worker/lost_run.py; this failed under the full suite's load).
    assert done["config"].get("resume_from_checkpoint"), [e["message"] for e in events]
    steps = [m["step"] for m in client.get(f"/api/v1/jobs/{job_id}/metrics").json() if m["kind"] == "train"]
    assert steps == list(range(1, 25)), "every step exactly once: none lost, none doubled"
    assert any("Queued again" in (e["message"] or "") for e in events)
