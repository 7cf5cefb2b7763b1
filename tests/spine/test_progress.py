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


def _budget_job(minutes: float, seconds_trained: float, **fields: object) -> Job:
    began = (utcnow() - timedelta(seconds=seconds_trained)).isoformat()
    config = {"hyperparameters": {"max_train_minutes": minutes}}
    return _job(started_at=utcnow() - timedelta(seconds=seconds_trained + 30), config=config,
                result={"train_started_at": began}, **fields)  # fmt: skip


def test_eta_of_a_time_budget_job_is_what_is_left_of_the_budget_until_its_step_count_is_known() -> None:
    # Found in use: before the budget measured its step time the child reported its 10,000,000-step
    # placeholder, and the ETA read months. Now the child reports no total, and the budget is the ETA.
    measuring = _budget_job(3, 40, step=2, total_steps=None)
    assert estimate_eta_seconds(measuring) == pytest.approx(140, abs=2)
    assert build_progress(measuring).percent == pytest.approx(100 * 40 / 180, abs=1)  # the bar moves too
    # Once the count is set, steps decide; the budget still caps (the child stops when it runs out).
    planned = _budget_job(3, 100, step=10, total_steps=12)  # 10 s a step: 20 s by the steps
    assert estimate_eta_seconds(planned) == pytest.approx(20, abs=2)
    slow = _budget_job(3, 170, step=10, total_steps=20)  # 170 s by the steps, but 10 s of budget left
    assert estimate_eta_seconds(slow) == pytest.approx(10, abs=2)
    loading = _job(started_at=utcnow(), step=0, config={"hyperparameters": {"max_train_minutes": 3}})
    assert estimate_eta_seconds(loading) is None  # the budget starts with the training loop, not before


def test_every_domain_table_reaches_the_chinese_pages() -> None:
    from app.i18n import tables, translate

    zh = tables()["zh"]
    assert translate("Datasets", "zh") == "数据集" and translate("Datasets", "en") == "Datasets"
    # Strings kept beside their capability (app/<domain>/i18n_zh.py) are merged in.
    from app.evaluations.i18n_zh import ZH_EVALUATIONS

    assert all(zh[key] == value for key, value in ZH_EVALUATIONS.items() if key not in ("Datasets",))
    assert translate("no such string", "zh") == "no such string"
