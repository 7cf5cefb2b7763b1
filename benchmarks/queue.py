"""Queue and live-view latencies, on the embedded studio (SQLite + folder broker) and on PostgreSQL + Redis.

    python benchmarks/queue.py [--modes embedded,real] [--rate 200] [--seconds 5]

Measures, each mode with a real `ftstudio web` process and one real worker on 127.0.0.1:
- submit-to-running on an idle worker (goal < 2 s): the job row's started_at - created_at, both written by
  the database clients of two processes on one clock;
- step-in-child to SSE client (goal p95 < 1 s): the test-only "sleep" child stamps each step with
  time.time(); an SSE client of /api/v1/jobs/{id}/events stamps each `metric` event it receives;
- GET /api/v1/jobs p50/p99 at --rate requests/s, open loop (goal p99 < 50 ms), with /api/v1/health at the
  same rate as the baseline (the server's floor) printed beside it as a ratio.
Prints the figures and writes the raw numbers to benchmarks/queue.json. Loopback only.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named queue.py: run as a script, its folder comes first on sys.path and it would shadow the
# standard library's `queue` (imported by asyncio, celery, httpx). Drop the folder before anything else.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import httpx  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _wait(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise TimeoutError(what)


class Studio:
    def __init__(self, mode: str, folder: Path) -> None:
        self.mode, self.folder, self.pg_name = mode, folder, None
        self.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        self.env.update(
            {
                "FTSTUDIO_DATA_DIR": str(folder),
                "FTSTUDIO_DEFAULT_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
                "FTSTUDIO_HEARTBEAT_INTERVAL_SECONDS": "1",
                "FTSTUDIO_ENABLE_TEST_JOB_KINDS": "1",
                "PYTHONPATH": str(REPO),
            }
        )
        if mode == "real":
            from tests.spine.studio import REDIS_TEST_URL, create_pg_database

            self.pg_name, url = create_pg_database()
            self.env.update({"DATABASE_URL": url, "REDIS_URL": REDIS_TEST_URL})
        os.environ.clear()
        os.environ.update(self.env)
        from app.migrations import upgrade_to_head
        from app.settings import get_settings, reset_settings_cache

        reset_settings_cache()
        upgrade_to_head(get_settings().sqlalchemy_url)
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = (folder / "bench.log").open("ab")
        self.web = subprocess.Popen(
            [sys.executable, "-m", "app.cli.main", "web", "--port", str(self.port)],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        from app.cli.runtime import worker_argv

        self.worker = subprocess.Popen(
            worker_argv(self.env["FTSTUDIO_DEFAULT_QUEUE"], loglevel="WARNING"),
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait(self._ready, 120, "web and worker")

    def _ready(self) -> bool:
        from app.db import session_scope
        from app.models import WorkerNode

        try:
            if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
        with session_scope() as session:
            return bool(session.query(WorkerNode).filter_by(pid=self.worker.pid, status="online").count())

    def sleep_job(self, steps: int, seconds: float) -> int:
        from app.db import session_scope
        from app.jobs.service import JobService

        with session_scope() as session:
            return (
                JobService(session)
                .create_job(1, kind="sleep", config={"steps": steps, "seconds_per_step": seconds})
                .id
            )

    def row(self, job_id: int):  # type: ignore[no-untyped-def]
        from app.db import session_scope
        from app.models import Job

        with session_scope() as session:
            job = session.get(Job, job_id)
            session.expunge(job)
            return job

    def close(self) -> None:
        for process in (self.worker, self.web):
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        from app.db import get_engine

        get_engine().dispose()
        if self.pg_name:
            from tests.spine.studio import drop_pg_database

            drop_pg_database(self.pg_name)


def submit_to_running(studio: Studio, runs: int = 10) -> list[float]:
    delays = []
    for _ in range(runs):
        job_id = studio.sleep_job(1, 0.0)
        job = _wait(lambda i=job_id: (j := studio.row(i)).status == "succeeded" and j, 60, "a sleep job")
        delays.append((job.started_at - job.created_at).total_seconds())
    return delays


def step_to_sse(studio: Studio, steps: int = 40, seconds: float = 0.1) -> list[float]:
    job_id = studio.sleep_job(steps, seconds)
    received: dict[int, float] = {}
    with httpx.stream("GET", f"{studio.url}/api/v1/jobs/{job_id}/events", timeout=120) as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "metric":
                received.setdefault(json.loads(line[6:])["step"], time.time())
            elif line.startswith("data: ") and event == "end":
                break
    written = {}
    for line in (studio.folder / "runs" / f"job-{job_id}" / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "train":
            written[record["step"]] = record["t"]
    return [received[s] - written[s] for s in written if s in received]


async def _open_loop(url: str, path: str, rate: float, seconds: float) -> tuple[list[float], dict[str, int]]:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def one() -> None:
            began = time.perf_counter()
            try:
                status = str((await client.get(path)).status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - began)
            statuses[status] = statuses.get(status, 0) + 1

        tasks = []
        start = time.perf_counter()
        for index in range(int(rate * seconds)):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies, statuses


def run_mode(mode: str, rate: float, seconds: float, low_rate: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"ftstudio-bench-{mode}-"))
    saved = dict(os.environ)
    studio = Studio(mode, folder)
    try:
        submit = submit_to_running(studio)
        sse = step_to_sse(studio)
        for _ in range(50):  # a job list worth reading
            studio.sleep_job(1, 0.0)
        time.sleep(3)
        health, health_status = asyncio.run(_open_loop(studio.url, "/api/v1/health", rate, seconds))
        jobs, jobs_status = asyncio.run(_open_loop(studio.url, "/api/v1/jobs", rate, seconds))
        time.sleep(2)
        # The same at a rate this (shared, 2-core) machine sustains: where the latency is the server's own.
        low, low_status = asyncio.run(_open_loop(studio.url, "/api/v1/jobs", low_rate, seconds))
    finally:
        studio.close()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "submit_to_running_s": submit,
        "step_to_sse_s": sse,
        "health_latency_s": health,
        "health_status": health_status,
        "jobs_latency_s": jobs,
        "jobs_status": jobs_status,
        "rate_per_s": rate,
        "jobs_low_rate_latency_s": low,
        "jobs_low_rate_status": low_status,
        "low_rate_per_s": low_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default="embedded,real")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--low-rate", type=float, default=20)
    args = parser.parse_args()
    raw = {mode: run_mode(mode, args.rate, args.seconds, args.low_rate) for mode in args.modes.split(",")}
    print(f"{'':34}" + "".join(f"{m:>22}" for m in raw))

    def row(label: str, key: str, q: float, goal: float, scale: float = 1.0, unit: str = "s") -> None:
        cells = []
        for data in raw.values():
            value = _pct(data[key], q)
            cells.append("–" if value is None else f"{value * scale:.3f} {unit} ({value / goal:.2f}x goal)")
        print(f"{label:34}" + "".join(f"{c:>22}" for c in cells))

    row("submit->running p50 (goal 2 s)", "submit_to_running_s", 0.5, 2.0)
    row("submit->running max", "submit_to_running_s", 1.0, 2.0)
    row("step->SSE p50 (goal p95 1 s)", "step_to_sse_s", 0.5, 1.0)
    row("step->SSE p95 (goal 1 s)", "step_to_sse_s", 0.95, 1.0)
    row("GET /jobs p50 (goal p99 50 ms)", "jobs_latency_s", 0.5, 0.05, 1000, "ms")
    row("GET /jobs p99 (goal 50 ms)", "jobs_latency_s", 0.99, 0.05, 1000, "ms")
    row("GET /health p99 (baseline)", "health_latency_s", 0.99, 0.05, 1000, "ms")
    row(f"GET /jobs p50 at {args.low_rate:g}/s", "jobs_low_rate_latency_s", 0.5, 0.05, 1000, "ms")
    row(f"GET /jobs p99 at {args.low_rate:g}/s", "jobs_low_rate_latency_s", 0.99, 0.05, 1000, "ms")
    for mode, data in raw.items():
        jobs99, health99 = _pct(data["jobs_latency_s"], 0.99), _pct(data["health_latency_s"], 0.99)
        ratio = jobs99 / health99 if jobs99 and health99 else None
        print(
            f"{mode}: /jobs statuses {data['jobs_status']}, /jobs p99 / /health p99 = {ratio:.1f}x"
            if ratio
            else f"{mode}: {data['jobs_status']}"
        )
        print(f"{mode}: median submit->running {statistics.median(data['submit_to_running_s']):.3f} s")
    out = Path(__file__).with_suffix(".json")
    out.write_text(json.dumps(raw, indent=1))
    print(f"raw: {out}")


if __name__ == "__main__":
    main()
