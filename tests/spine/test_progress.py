"""Progress and ETA as users see them, from a job row."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.jobs.progress import build_progress, estimate_eta_seconds
from app.models import Job, JobStatus, utcnow


def _job(**fields: object) -> Job:
    return Job(**{"kind": "train", "status": JobStatus.RUNNING, "step": 0, "result": {}, **fields})


def test_eta_counts_from_the_first_step_not_from_model_loading() -> None:
    now = utcnow()
    job = _job(
        started_at=now - timedelta(seconds=300),
        step=10,
        total_steps=40,
        result={"train_started_at": (now - timedelta(seconds=20)).isoformat()},
    )
    # 10 steps in 20 s -> 2 s a step -> 30 steps left = 60 s (loading the model took the other 280 s).
    assert estimate_eta_seconds(job) == pytest.approx(60, abs=2)


def test_eta_after_a_resume_counts_only_the_steps_of_this_run() -> None:
    now = utcnow()
    job = _job(
        started_at=now - timedelta(seconds=10),
        step=25,
        total_steps=45,
        result={"first_step": 20, "train_started_at": (now - timedelta(seconds=10)).isoformat()},
    )
    assert estimate_eta_seconds(job) == pytest.approx(40, abs=2)  # 5 steps / 10 s, 20 steps left


def test_no_eta_before_a_step_or_when_finished() -> None:
    assert estimate_eta_seconds(_job(started_at=utcnow(), step=0, total_steps=10)) is None
    done = _job(started_at=utcnow(), step=10, total_steps=10)
    done.status = JobStatus.SUCCEEDED
    assert estimate_eta_seconds(done) is None
    assert build_progress(done).percent == 100.0
    half = _job(started_at=utcnow(), step=5, total_steps=20)
    assert build_progress(half).percent == 25.0


def test_every_domain_table_reaches_the_chinese_pages() -> None:
    from app.i18n import tables, translate

    zh = tables()["zh"]
    assert translate("Datasets", "zh") == "数据集" and translate("Datasets", "en") == "Datasets"
    # Strings kept beside their capability (app/<domain>/i18n_zh.py) are merged in.
    from app.evaluations.i18n_zh import ZH_EVALUATIONS

    assert all(zh[key] == value for key, value in ZH_EVALUATIONS.items() if key not in ("Datasets",))
    assert translate("no such string", "zh") == "no such string"
