"""A cheap job kind for queue tests and benchmarks: "sleep" runs a tiny child that logs a few steps.

Only when FTSTUDIO_ENABLE_TEST_JOB_KINDS is set (tests and benchmarks/queue.py set it; a production studio
never does): it exercises the whole queue (claim, child process, events, heartbeat, end) in a fraction of
a second instead of loading a model.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from app.models import Job
from app.settings import get_settings
from worker.job_kinds import RunSpec, write_config

SLEEP_KIND = "sleep"


def _sleep_spec(job: Job, run_dir: Path) -> RunSpec:
    config = {
        "job_id": job.id,
        "run_dir": str(run_dir),
        "steps": int((job.config or {}).get("steps", 3)),
        "seconds_per_step": float((job.config or {}).get("seconds_per_step", 0.05)),
    }
    path = write_config(run_dir, config)
    return RunSpec(argv=[sys.executable, "-m", "worker.tasks.sleep_child", str(path)], env={}, config=config)


def test_kind_builder(kind: str) -> Callable[[Job, Path], RunSpec] | None:
    if kind == SLEEP_KIND and get_settings().enable_test_job_kinds:
        return _sleep_spec
    return None
