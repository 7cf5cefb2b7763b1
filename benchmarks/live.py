"""How long from a training step to the browser? Step-in-child -> SSE-client latency, both modes.

One run starts, for each mode, a whole studio in subprocesses (`ftstudio web` + `ftstudio worker`, a fresh
data dir; real mode: a fresh PostgreSQL database and Redis, woken by pub/sub; embedded: SQLite and the
folder broker, the stream polls the database once a second), trains a tiny model with a metric every step,
and times each step twice on this machine's clock:

- when its line appears in the child's metrics.jsonl (this script tails the file every 5 ms), and
- when its `metric` event reaches an SSE client reading GET /api/v1/jobs/{id}/events over HTTP.

Prints p50/p95/max per mode and the ratio of real to embedded (the baseline of the same run); the raw
samples are saved as JSON beside (--out). Goal (issue #9): p95 < 1 s.

Fan-out (--streams N, default 200): N job pages open at once on one `ftstudio web` (no worker): a metric
row is committed (and published in real mode) and the script times its arrival at every stream, then
times `GET /api/v1/jobs` while the N streams stay open (they must not hold the database pool).

    .venv/bin/python benchmarks/live.py                  # both modes, 40 steps
    .venv/bin/python benchmarks/live.py --modes embedded --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Running a script puts its folder first on sys.path, where benchmarks/datasets.py would pass for the
# `datasets` library that transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

PG_ADMIN_URL = os.environ.get("FTSTUDIO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("FTSTUDIO_TEST_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class FileTail(threading.Thread):
    """Records when each train step's line first appears in metrics.jsonl."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.seen, self.stop = path, {}, threading.Event()

    def run(self) -> None:
        offset = 0
        while not self.stop.is_set():
            if self.path.is_file():
                with self.path.open("rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
                now = time.time()
                end = data.rfind(b"\n")
                if end >= 0:
                    offset += end + 1
                    for line in data[: end + 1].splitlines():
                        record = json.loads(line)
                        if record.get("event") == "train":
                            self.seen.setdefault(int(record["step"]), now)
            time.sleep(0.005)


def run_mode(mode: str, steps: int, model_dir: Path, work: Path) -> dict[str, Any]:
    import httpx

    from tests.spine.conftest import write_dataset

    data_dir = work / f"data-{mode}"
    port = free_port()
    env, pg_name = studio_env(mode, data_dir)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env["FTSTUDIO_DEFAULT_QUEUE"] = queue
    cli = [sys.executable, "-m", "app.cli.main"]
    procs: list[subprocess.Popen] = []
    log = (work / f"{mode}.log").open("wb")
    try:
        subprocess.run([*cli, "migrate"], env=env, cwd=REPO, check=True, stdout=log, stderr=subprocess.STDOUT)
        for argv in (
            [*cli, "web", "--port", str(port)],
            [*cli, "worker", "-Q", queue, "--loglevel", "WARNING"],
        ):
            procs.append(
                subprocess.Popen(
                    argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        for _ in range(240):
            try:
                if http.get("/api/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        http.post("/api/v1/models", json={"path": str(model_dir), "id": "bench-tiny"}).raise_for_status()
        with write_dataset(work / f"{mode}.jsonl", repeats=8).open("rb") as handle:
            dataset = http.post("/api/v1/datasets", files={"file": ("d.jsonl", handle)}).json()
        job = http.post(
            "/api/v1/jobs",
            json={
                "dataset_id": dataset["id"],
                "base_model": "bench-tiny",
                "method": "lora",
                "hyperparameters": {
                    "max_steps": steps,
                    "save_steps": steps,
                    "logging_steps": 1,
                    "max_seq_length": 96,
                    "per_device_train_batch_size": 2,
                },
            },
        ).json()
        tail = FileTail(data_dir / "runs" / f"job-{job['id']}" / "metrics.jsonl")
        tail.start()
        received: dict[int, float] = {}
        wake: Any = None
        with http.stream("GET", f"/api/v1/jobs/{job['id']}/events", timeout=600) as stream:
            event = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event:
                    data = json.loads(line[6:])
                    if event == "stream":
                        wake = data["wake"]
                    elif event == "metric" and data["kind"] == "train":
                        received.setdefault(int(data["step"]), time.time())
                    elif event == "end":
                        end = data
                        break
        tail.stop.set()
        latencies = [received[s] - tail.seen[s] for s in sorted(received) if s in tail.seen]
        return {"mode": mode, "wake": wake, "end": end, "steps": len(latencies), "latencies_s": latencies}
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        if pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def studio_env(mode: str, data_dir: Path) -> tuple[dict[str, str], str | None]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {"FTSTUDIO_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    )
    if mode != "real":
        return env, None
    import psycopg

    pg_name = f"ftstudio_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{pg_name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    env["DATABASE_URL"], env["REDIS_URL"] = f"{base}/{pg_name}", REDIS_URL
    return env, pg_name


def fanout(mode: str, streams: int, work: Path) -> dict[str, Any]:
    import asyncio

    import httpx

    env, pg_name = studio_env(mode, work / f"fanout-{mode}")
    port = free_port()
    cli = [sys.executable, "-m", "app.cli.main"]
    log = (work / f"fanout-{mode}.log").open("wb")
    subprocess.run([*cli, "migrate"], env=env, cwd=REPO, check=True, stdout=log, stderr=subprocess.STDOUT)
    web = subprocess.Popen(
        [*cli, "web", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    from app.db import session_scope
    from app.jobs.live import publish
    from app.models import LOCAL_USER_ID, Job, JobMetric, utcnow
    from app.settings import settings_from

    url = f"http://127.0.0.1:{port}"

    async def run() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=streams + 10)
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
            for _ in range(240):
                try:
                    if (await http.get("/api/v1/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)
            with session_scope() as session:
                job = Job(owner_id=LOCAL_USER_ID, kind="train", status="running", config={})
                session.add(job)
                session.flush()
                job_id = job.id
            ready, arrived = asyncio.Event(), []
            opened = [0]

            async def watch() -> None:
                async with http.stream("GET", f"/api/v1/jobs/{job_id}/events") as response:
                    event = None
                    async for line in response.aiter_lines():
                        if line.startswith("event: "):
                            event = line[7:]
                            if event == "progress" and not ready.is_set():
                                opened[0] += 1
                                if opened[0] == streams:
                                    ready.set()
                            elif event == "metric":
                                arrived.append(time.time())
                                return

            tasks = [asyncio.create_task(watch()) for _ in range(streams)]
            await asyncio.wait_for(ready.wait(), 120)
            await asyncio.sleep(1.5)  # every stream is now waiting (pub/sub or poll)
            list_times = []
            for _ in range(20):
                started = time.perf_counter()
                (await http.get("/api/v1/jobs")).raise_for_status()
                list_times.append(time.perf_counter() - started)
            committed = time.time()
            with session_scope() as session:
                session.add(JobMetric(job_id=job_id, kind="train", step=1, loss=1.0, created_at=utcnow()))
            publish(job_id)
            await asyncio.wait_for(asyncio.gather(*tasks), 120)
            delays = [t - committed for t in arrived]
            return {"streams": streams, "delays_s": delays, "list_jobs_s": list_times}

    try:  # this process's session_scope and publish talk to the same studio as the web server
        with settings_from({k: env.get(k) for k in ("FTSTUDIO_DATA_DIR", "DATABASE_URL", "REDIS_URL")}):
            return {"mode": mode, **asyncio.run(run())}
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=60)
        log.close()
        if pg_name:
            import psycopg

            from app.db import engine_for

            engine_for(env["DATABASE_URL"]).dispose()
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="embedded,real")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--streams", type=int, default=200, help="fan-out streams (0: skip)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ftstudio-bench-live.json")
    args = parser.parse_args()
    from worker.training.tiny_model import build_tiny_model

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_tiny_model(work / "tiny", arch="llama")
        for mode in args.modes.split(","):
            results[mode] = run_mode(mode, args.steps, model, work)
        if args.streams:
            for mode in args.modes.split(","):
                results[f"fanout-{mode}"] = fanout(mode, args.streams, work)
    print(f"step-in-child -> SSE-client latency, {args.steps} steps, one metric per step")
    for mode, result in results.items():
        if mode.startswith("fanout-"):
            continue
        lat = result["latencies_s"]
        if not lat:
            print(f"  {mode:9s} no samples (see the log); end: {result['end']}")
            continue
        result["p50_s"], result["p95_s"], result["max_s"] = (
            percentile(lat, 0.5),
            percentile(lat, 0.95),
            max(lat),
        )
        print(
            f"  {mode:9s} ({result['wake']:6s}) p50 {result['p50_s'] * 1000:7.0f} ms   "
            f"p95 {result['p95_s'] * 1000:7.0f} ms   max {result['max_s'] * 1000:7.0f} ms   "
            f"mean {statistics.mean(lat) * 1000:7.0f} ms   n={len(lat)}"
        )
    if all(m in results and results[m].get("p50_s") for m in ("real", "embedded")):
        real, emb = results["real"], results["embedded"]
        p50, p95 = real["p50_s"] / emb["p50_s"], real["p95_s"] / emb["p95_s"]
        print(f"  real / embedded: p50 x{p50:.2f}, p95 x{p95:.2f} (embedded polling is the baseline)")
    for mode in args.modes.split(","):
        fan = results.get(f"fanout-{mode}")
        if not fan:
            continue
        d, lt = fan["delays_s"], fan["list_jobs_s"]
        print(
            f"  fan-out {mode:9s} {fan['streams']} open streams: commit -> every stream p50 "
            f"{percentile(d, 0.5) * 1000:.0f} ms, p95 {percentile(d, 0.95) * 1000:.0f} ms, "
            f"max {max(d) * 1000:.0f} ms"
            f" (n={len(d)}); GET /api/v1/jobs meanwhile p50 {percentile(lt, 0.5) * 1000:.0f} ms,"
            f" max {max(lt) * 1000:.0f} ms"
        )
    args.out.write_text(json.dumps(results, indent=2))
    print(f"raw samples: {args.out}")


if __name__ == "__main__":
    main()
