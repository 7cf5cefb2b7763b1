"""The worker's serving manager: a thread beside the job slot that turns deployment rows into serving
processes and back, so one worker can train and serve at once (in the embedded studio, on one CPU).

Every ``interval`` it claims deployments waiting on its queues, starts one serving process per base model
(LoRA deployments of a base already served are added to that process as adapters), notices a process
that is ready (``server.json``), failed to load (``error.json``, exit 2) or died, copies the process'
counters into the rows, and stops what was undeployed. The database owns the state; a process is
identified by the deployment rows that point at it (worker_id, pid, endpoint_url).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update

from app.db import session_scope
from app.models import Deployment, DeploymentStatus, WorkerNode, utcnow
from app.settings import get_settings
from worker.child_process import ChildProcess, log_tail

log = logging.getLogger("ftstudio.serving")
ACTIVE = (DeploymentStatus.LOADING, DeploymentStatus.READY)


@dataclass
class ServingProcess:
    key: tuple
    child: ChildProcess
    run_dir: Path
    token: str
    endpoint: str | None = None
    deployments: set[int] = field(default_factory=set)  # rows served (or being loaded at start)
    started: float = field(default_factory=time.monotonic)


def adapter_kind(adapter_path: str | None) -> str | None:
    """The PEFT type of an adapter folder (LORA can share a base; prompt-learning types cannot)."""
    if not adapter_path:
        return None
    try:
        config = json.loads(Path(adapter_path, "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unknown"
    return str(config.get("peft_type", "unknown")).upper()


def process_key(dep: Deployment) -> tuple:
    """Deployments with the same key share one process: the base, plus LoRA adapters on it."""
    base = (dep.base_path, dep.gguf_file, bool(dep.trust_remote_code))
    kind = adapter_kind(dep.adapter_path)
    return (*base, "shared") if kind in (None, "LORA") else (*base, f"own-{dep.id}")


def pick_engine(device: str, adapter_path: str | None) -> str:
    """vLLM on a GPU worker that has it (and a base or LoRA deployment), else transformers."""
    import importlib.util

    choice = get_settings().serving_engine
    if choice != "auto":
        return choice
    usable = device.startswith("cuda") and adapter_kind(adapter_path) in (None, "LORA")
    return "vllm" if usable and importlib.util.find_spec("vllm") is not None else "transformers"


def local_device() -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    return f"cuda:{visible.split(',')[0]}" if visible and visible != "-1" else "cpu"


class ServingManager(threading.Thread):
    def __init__(self, worker_id: str, queues: list[str], *, interval: float = 0.5) -> None:
        super().__init__(name="ftstudio-serving", daemon=True)
        self.worker_id = worker_id
        self.queues = queues
        self.interval = interval
        self.stopped = threading.Event()
        self.processes: dict[tuple, ServingProcess] = {}
        self._last_stats = 0.0

    # --- the loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.tick()
            except Exception:  # the database may blink; the next tick tries again
                log.exception("serving manager tick failed")

    def tick(self) -> None:
        self._claim()
        with session_scope() as session:
            mine = list(
                session.scalars(
                    select(Deployment).where(
                        Deployment.worker_id == self.worker_id, Deployment.status.in_(ACTIVE)
                    )
                )
            )
            for dep in mine:
                if dep.stop_requested:
                    self._stop(dep)
            for proc in list(self.processes.values()):
                self._watch(session, proc)
            for dep in mine:
                if dep.status == DeploymentStatus.LOADING and not dep.stop_requested:
                    self._place(dep)
            if time.monotonic() - self._last_stats > 2.0:
                self._last_stats = time.monotonic()
                self._copy_stats(session)
                self._fail_orphans(session)  # a write: not every tick (SQLite shares one writer)

    def _claim(self) -> None:
        with session_scope() as session:
            waiting = session.scalars(
                select(Deployment.id).where(
                    Deployment.status == DeploymentStatus.LOADING,
                    Deployment.worker_id.is_(None),
                    Deployment.stop_requested.is_(False),
                    Deployment.queue.in_(self.queues),
                )
            ).all()
            for dep_id in waiting:
                # Atomic: of several workers on the queue, exactly one wins the row.
                session.execute(
                    update(Deployment)
                    .where(Deployment.id == dep_id, Deployment.worker_id.is_(None))
                    .values(worker_id=self.worker_id, device=local_device())
                )

    # --- starting ----------------------------------------------------------------------------------
    def _place(self, dep: Deployment) -> None:
        key = process_key(dep)
        proc = self.processes.get(key)
        if proc is None:
            self.processes[key] = self._spawn(key, dep)
            return
        if dep.id in proc.deployments or proc.endpoint is None:
            return  # being loaded at start, or the process is not up yet: next tick
        try:
            response = httpx.post(
                f"{proc.endpoint}/internal/models",
                json={"name": dep.served_model_name, "adapter_path": dep.adapter_path},
                headers={"X-Serving-Token": proc.token},
                timeout=300,
            )
        except httpx.HTTPError as exc:
            self._fail(dep, f"the serving process did not answer: {exc}")
            return
        if response.status_code != 200:
            self._fail(dep, response.json().get("detail", response.text))
            return
        proc.deployments.add(dep.id)
        self._ready(dep, proc, float(response.json().get("load_seconds") or 0.0))

    def _spawn(self, key: tuple, dep: Deployment) -> ServingProcess:
        settings = get_settings()
        run_dir = settings.resolved_data_dir / "serving" / f"deployment-{dep.id}"
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("server.json", "error.json"):
            (run_dir / stale).unlink(missing_ok=True)
        token = secrets.token_urlsafe(24)
        device = dep.device or local_device()
        engine = pick_engine(device, dep.adapter_path)
        config = {
            "engine": engine,
            "run_dir": str(run_dir),
            "base_path": dep.base_path,
            "gguf_file": dep.gguf_file,
            "trust_remote_code": bool(dep.trust_remote_code),
            "device": device,
            "host": settings.serving_host,
            "token": token,
            "models": [{"name": dep.served_model_name, "adapter_path": dep.adapter_path}],
        }
        path = run_dir / "serve.json"
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        argv = [sys.executable, "-m", "worker.serving.server", "--config", str(path)]
        child = ChildProcess(argv, env=dict(os.environ), log_path=run_dir / "server.log")
        log.info("deployment %s: serving process %s started", dep.id, child.process.pid)
        dep.pid, dep.engine = child.process.pid, engine
        return ServingProcess(key=key, child=child, run_dir=run_dir, token=token, deployments={dep.id})

    def _watch(self, session: Any, proc: ServingProcess) -> None:
        rows = [session.get(Deployment, i) for i in proc.deployments]
        rows = [r for r in rows if r is not None and r.status in ACTIVE]
        code = proc.child.poll()
        if code is not None:
            reason = self._exit_reason(proc, code)
            for dep in rows:
                self._fail(dep, reason)
            proc.child.reap_group()
            self.processes.pop(proc.key, None)
            return
        if proc.endpoint is None and (proc.run_dir / "server.json").is_file():
            info = json.loads((proc.run_dir / "server.json").read_text(encoding="utf-8"))
            proc.endpoint = f"http://{get_settings().serving_host}:{info['port']}"
            for dep in rows:
                self._ready(dep, proc, float(info["load_seconds"].get(dep.served_model_name, 0.0)))
        if not proc.deployments:
            self._terminate(proc)

    def _exit_reason(self, proc: ServingProcess, code: int) -> str:
        error_file = proc.run_dir / "error.json"
        if error_file.is_file():
            return str(json.loads(error_file.read_text(encoding="utf-8")).get("error"))
        tail = log_tail(proc.run_dir / "server.log")
        return f"the serving process exited with code {code}. Last lines of its log:\n{tail}"

    def _ready(self, dep: Deployment, proc: ServingProcess, load_seconds: float) -> None:
        dep.status, dep.error = DeploymentStatus.READY, None
        dep.endpoint_url, dep.internal_token = proc.endpoint, proc.token
        dep.pid, dep.load_seconds, dep.ready_at = proc.child.process.pid, load_seconds, utcnow()
        dep.engine = dep.engine or "transformers"
        log.info("deployment %s ready at %s", dep.id, proc.endpoint)

    def _fail(self, dep: Deployment, reason: str) -> None:
        dep.status, dep.error = DeploymentStatus.FAILED, reason
        dep.endpoint_url, dep.stopped_at = None, utcnow()
        log.warning("deployment %s failed: %s", dep.id, reason)

    # --- stopping ----------------------------------------------------------------------------------
    def _stop(self, dep: Deployment) -> None:
        for proc in list(self.processes.values()):
            if dep.id not in proc.deployments:
                continue
            proc.deployments.discard(dep.id)
            if proc.deployments and proc.endpoint:
                try:
                    httpx.delete(
                        f"{proc.endpoint}/internal/models/{dep.served_model_name}",
                        headers={"X-Serving-Token": proc.token},
                        timeout=60,
                    )
                except httpx.HTTPError:
                    log.warning(
                        "could not unload %s; it stays until its process stops", dep.served_model_name
                    )
            elif not proc.deployments:
                self._terminate(proc)
        dep.status, dep.stopped_at = DeploymentStatus.STOPPED, utcnow()
        dep.endpoint_url = dep.internal_token = None
        dep.pid = None

    def _terminate(self, proc: ServingProcess, grace: float = 10.0) -> None:
        proc.child.terminate()
        if proc.child.wait(grace) is None:
            proc.child.kill_if_overdue(0)
            proc.child.wait(5)
        proc.child.reap_group()
        self.processes.pop(proc.key, None)

    def shutdown(self) -> None:
        """The worker is stopping: stop every serving process and say so on the rows."""
        self.stopped.set()
        ids = [i for proc in self.processes.values() for i in proc.deployments]
        for proc in list(self.processes.values()):
            self._terminate(proc)
        if ids:
            with session_scope() as session:
                for dep in session.scalars(select(Deployment).where(Deployment.id.in_(ids))):
                    if dep.status in ACTIVE:
                        dep.status, dep.stopped_at = DeploymentStatus.STOPPED, utcnow()
                        dep.error, dep.endpoint_url, dep.pid = "the worker serving it stopped", None, None

    # --- bookkeeping -------------------------------------------------------------------------------
    def _copy_stats(self, session: Any) -> None:
        for proc in self.processes.values():
            if proc.endpoint is None:
                continue
            try:
                stats = httpx.get(
                    f"{proc.endpoint}/internal/stats", headers={"X-Serving-Token": proc.token}, timeout=5
                ).json()
            except (httpx.HTTPError, ValueError):
                continue
            for dep_id in proc.deployments:
                dep = session.get(Deployment, dep_id)
                counters = stats.get("models", {}).get(dep.served_model_name) if dep else None
                if counters:
                    dep.requests = counters["requests"]
                    dep.prompt_tokens = counters["prompt_tokens"]
                    dep.completion_tokens = counters["completion_tokens"]
                    dep.errors = counters["errors"]

    def _fail_orphans(self, session: Any) -> None:
        """Deployments held by a worker that went offline have no process any more."""
        offline = select(WorkerNode.id).where(WorkerNode.status == "offline")
        session.execute(
            update(Deployment)
            .where(Deployment.status.in_(ACTIVE), Deployment.worker_id.in_(offline))
            .values(
                status=DeploymentStatus.FAILED, error="the worker serving it went offline", endpoint_url=None
            )
        )
