"""How the worker starts a synthesis job's child: its config (no key in it) and its environment (the key)."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy.orm import object_session

from app.models import Job
from app.settings import get_settings
from app.synthesis.endpoints import EndpointUnavailable, resolve
from app.synthesis.secrets import SecretUnreadable
from worker.job_kinds import RunSpec, write_config
from worker.synthesis.run import KEY_ENV


def synthesis_spec(job: Job, run_dir: Path) -> RunSpec:
    session = object_session(job)
    assert session is not None
    try:
        base_url, api_key = resolve(session, job.owner_id, job.config["endpoint"])
    except (EndpointUnavailable, SecretUnreadable) as exc:
        raise ValueError(str(exc)) from None  # the supervisor fails the job with this message
    config = {**job.config, "job_id": job.id, "run_dir": str(run_dir)}
    config["endpoint"] = {"kind": job.config["endpoint"].get("kind", "external"), "base_url": base_url}
    seeds = dict(config["seeds"])
    if seeds.get("kind") == "dataset":
        seeds["rows_path"] = str(get_settings().resolved_data_dir / seeds["version_path"] / "rows.jsonl")
    config["seeds"] = seeds
    path = write_config(run_dir, config)
    argv = [sys.executable, "-m", "worker.synthesis.run", "--config", str(path)]
    return RunSpec(argv=argv, env={KEY_ENV: api_key}, config=config)
