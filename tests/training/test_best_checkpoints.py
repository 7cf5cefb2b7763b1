"""keep_best_k keeps the K best checkpoints ON DISK, each ranked by a value of its own step.

Found in use: the Trainer's rotation (save_total_limit) deleted the checkpoints that the best_checkpoints
event named, and a checkpoint was ranked by whatever eval loss was last seen (evaluation ran once per
epoch, saves every save_steps), so every save of an epoch carried the previous epoch's number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from app.jobs.hyperparameters import TrainHyperparameters
from app.jobs.trainer_args import ranks_checkpoints
from worker.training.best_checkpoints import RANKING_FILE, BestCheckpoints


class Run:
    """Drives the callback's hooks the way the Trainer does: logs, an evaluation, then the save (whose
    folder the Trainer has written before on_save)."""

    def __init__(self, tmp_path: Path, metric: str, keep: int, quick: dict | None = None) -> None:
        self.dir = tmp_path / "checkpoints"
        self.dir.mkdir(exist_ok=True)
        self.events: list[dict] = []
        self.quick = quick
        self.callback = BestCheckpoints(
            keep=keep, metric=metric, checkpoints_dir=self.dir, write_event=self.events.append,
            quick_eval_result=lambda: self.quick,
        )  # fmt: skip

    def state(self, step: int) -> Any:
        return SimpleNamespace(global_step=step, is_world_process_zero=True)

    def log(self, step: int, loss: float) -> None:
        self.callback.on_log(None, self.state(step), None, logs={"loss": loss})

    def evaluate(self, step: int, eval_loss: float) -> None:
        self.callback.on_evaluate(None, self.state(step), None, metrics={"eval_loss": eval_loss})

    def save(self, step: int) -> None:
        (self.dir / f"checkpoint-{step}").mkdir()
        self.callback.on_save(None, self.state(step), None)

    def on_disk(self) -> list[int]:
        return sorted(int(p.name.split("-")[1]) for p in self.dir.glob("checkpoint-*"))


def test_keeps_the_k_best_and_the_newest_on_disk(tmp_path: Path) -> None:
    run = Run(tmp_path, "eval_loss", keep=2)
    for step, eval_loss in [(5, 2.0), (10, 1.5), (15, 1.8), (20, 1.2), (25, 1.9)]:
        run.evaluate(step, eval_loss)
        run.save(step)
    assert run.on_disk() == [10, 20, 25]  # best two (1.2 at 20, 1.5 at 10) and the newest
    last = run.events[-1]
    assert last["steps"] == [10, 20] and last["removed"] == [15] and last["metric"] == "eval_loss"
    assert last["scores"] == {"10": 1.5, "20": 1.2}
    assert last["message"] == "best by eval_loss: steps 10, 20; removed 15"


def test_the_job_page_marks_the_best_checkpoints_and_says_the_ranking_in_chinese(tmp_path: Path) -> None:
    from app.i18n import current_language
    from app.web_templates import templates

    run = Run(tmp_path, "loss", keep=1)
    for step, loss in [(3, 2.0), (6, 3.0), (9, 4.0)]:
        run.log(step, loss)
        run.save(step)
    event = run.events[-1]  # 3 best, 6 removed, 9 the newest
    job = SimpleNamespace(
        id=1, status="succeeded", kind="train", method="lora", base_model="m", config={}, error=None,
        progress=SimpleNamespace(step=9, total_steps=9, loss=4.0, eta_seconds=None, percent=100.0),
        peak_memory_bytes=None, result={}, worker_id=None, cancel_requested=False,
        checkpoints=[
            SimpleNamespace(step=s, path=f"checkpoints/checkpoint-{s}", size_bytes=1, deleted=s == 6)
            for s in (3, 6, 9)
        ],
    )  # fmt: skip
    row = SimpleNamespace(kind="best_checkpoints", step=9, message=event["message"], data=event)
    token = current_language.set("zh")
    try:
        html = templates.env.get_template("jobs/_summary.html").render(job=job, events=[row])
    finally:
        current_language.reset(token)
    assert html.count("badge-best") == 1 and '<td>3 <span class="badge badge-best">最佳</span>' in html
    assert "按 loss 最好的检查点：第 3 步；已删除第 6 步" in html


def test_an_older_evaluation_never_scores_a_later_checkpoint(tmp_path: Path) -> None:
    run = Run(tmp_path, "eval_loss", keep=1)
    run.evaluate(5, 1.0)
    run.save(5)
    run.save(10)  # no evaluation at step 10: unscored, kept only while it is the newest
    assert run.callback.scores == {5: 1.0} and run.on_disk() == [5, 10]
    run.evaluate(15, 3.0)
    run.save(15)
    assert run.on_disk() == [5, 15]  # 10 could not be ranked; 15 is worse than 5 but the newest


def test_training_loss_ranks_by_the_mean_since_the_previous_save(tmp_path: Path) -> None:
    run = Run(tmp_path, "loss", keep=1)
    for step, loss in [(1, 5.0), (2, 1.0)]:
        run.log(step, loss)
    run.save(2)  # mean 3.0
    for step, loss in [(3, 2.0), (4, 2.5)]:
        run.log(step, loss)
    run.save(4)  # mean 2.25: better although step 2's last loss (1.0) was lower
    assert run.callback.scores == {4: 2.25} and run.on_disk() == [4]


def test_quick_check_metrics_score_only_their_own_save(tmp_path: Path) -> None:
    run = Run(tmp_path, "bleu4", keep=1, quick={"step": 5, "bleu4": 10.0})
    run.save(5)
    run.quick = {"step": 10, "bleu4": 30.0}
    run.save(10)
    run.save(15)  # the quick result is still step 10's: not this checkpoint's
    assert run.callback.scores == {10: 30.0}  # bleu4: higher is better, 5 was removed
    assert run.on_disk() == [10, 15]


def test_a_resumed_run_ranks_the_folders_of_its_earlier_part(tmp_path: Path) -> None:
    first = Run(tmp_path, "eval_loss", keep=1)
    for step, eval_loss in [(5, 1.0), (10, 2.0)]:
        first.evaluate(step, eval_loss)
        first.save(step)
    saved = json.loads((first.dir / RANKING_FILE).read_text())
    assert saved == {"metric": "eval_loss", "scores": {"5": 1.0, "10": 2.0}}
    resumed = Run(tmp_path, "eval_loss", keep=1)  # a new child process, resuming from checkpoint-10
    resumed.evaluate(15, 1.5)
    resumed.save(15)
    assert resumed.on_disk() == [5, 15]  # 5 (1.0) is still the best, 10 went
    other_metric = Run(tmp_path, "loss", keep=1)
    assert other_metric.callback.scores == {}  # another metric's numbers do not compare


def test_later_folders_of_an_abandoned_branch_stay(tmp_path: Path) -> None:
    run = Run(tmp_path, "eval_loss", keep=1)
    (run.dir / "checkpoint-40").mkdir()  # the user resumed from an earlier checkpoint
    run.evaluate(5, 1.0)
    run.save(5)
    run.evaluate(10, 2.0)
    run.save(10)
    assert run.on_disk() == [5, 10, 40]


def test_only_the_main_process_removes(tmp_path: Path) -> None:
    run = Run(tmp_path, "eval_loss", keep=1)
    run.state = lambda step: SimpleNamespace(global_step=step, is_world_process_zero=False)  # type: ignore[method-assign]
    for step in (5, 10, 15):
        run.evaluate(step, float(step))
        run.save(step)
    assert run.on_disk() == [5, 10, 15] and run.events == []


# --- the settings -----------------------------------------------------------------------------------------
def test_ranking_by_eval_loss_evaluates_at_every_save(tmp_path: Path) -> None:
    from worker.training.sft import core_training_arguments

    hp = TrainHyperparameters(keep_best_k=2, save_steps=20)
    args = core_training_arguments(hp, tmp_path, has_eval=True)
    assert (args["eval_strategy"], args["eval_steps"], args["save_total_limit"]) == ("steps", 20, None)
    # Without a validation split eval_loss cannot rank: the Trainer keeps the newest save_total_limit.
    args = core_training_arguments(hp, tmp_path, has_eval=False)
    assert args["save_total_limit"] == hp.save_total_limit and not ranks_checkpoints(hp, False)
    # The training loss ranks without one; no keep_best_k keeps the once-per-epoch evaluation.
    assert ranks_checkpoints(TrainHyperparameters(keep_best_k=2, metric_for_best="loss"), False)
    assert (
        core_training_arguments(TrainHyperparameters(), tmp_path, has_eval=True)["eval_strategy"] == "epoch"
    )


@pytest.mark.parametrize(
    ("hyperparameters", "named"),
    [
        (
            {"keep_best_k": 2, "metric_for_best": "bleu4", "quick_eval_every_n_checkpoints": 2},
            "quick_eval_every_n",
        ),
        (
            {"keep_best_k": 2, "metric_for_best": "repetition", "quick_eval_every_n_checkpoints": 0},
            "quick_eval",
        ),
        ({"keep_best_k": 2, "save_steps": 50, "eval_steps": 30}, "multiple of eval_steps"),
    ],
)
def test_settings_that_leave_checkpoints_unranked_are_refused(hyperparameters: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        TrainHyperparameters(**hyperparameters)
    TrainHyperparameters(**{**hyperparameters, "keep_best_k": None})  # fine without the ranking


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real FastAPI app on a fresh SQLite data dir, through tests/clients.py."""
    from tests.clients import sqlite_studio_client

    with sqlite_studio_client(tmp_path_factory.mktemp("studio")) as client:
        yield client


def test_the_api_refuses_them_with_a_422_that_says_why(studio: Any) -> None:
    body = {
        "dataset_id": 1,
        "base_model": "x",
        "method": "lora",
        "hyperparameters": {"keep_best_k": 2, "save_steps": 50, "eval_steps": 30},
    }
    response = studio.post("/api/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    assert "save_steps (50) must be a multiple of eval_steps (30)" in response.text


def test_removed_folders_are_marked_deleted_when_the_ranking_says_so(studio: Any, tmp_path: Path) -> None:
    """The supervisor may apply a save's checkpoint event before the ranking removed the older folder; the
    best_checkpoints event then marks its row at once (before: at the next save, so never after the last)."""
    from app.db import session_scope
    from app.models import LOCAL_USER_ID, Job
    from worker.event_sink import EventSink

    for step in (5, 10):
        (tmp_path / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
    saves = [{"event": "checkpoint", "step": s, "path": f"checkpoints/checkpoint-{s}"} for s in (5, 10)]
    ranking = {"event": "best_checkpoints", "step": 10, "steps": [10], "metric": "loss", "removed": [5]}
    with session_scope() as session:
        job = Job(owner_id=LOCAL_USER_ID, kind="train", status="running", config={}, run_dir=str(tmp_path))
        session.add(job)
        session.flush()
        sink = EventSink(job.id, tmp_path)
        sink.apply(session, job, saves)
        (tmp_path / "checkpoints" / "checkpoint-5").rmdir()  # what BestCheckpoints.on_save does next
        sink.apply(session, job, [ranking])
        session.flush()
        session.expire(job, ["checkpoints"])
        assert {c.step: c.deleted for c in job.checkpoints} == {5: True, 10: False}


# --- the real child -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_child_keeps_the_best_by_its_own_steps_eval_loss(
    tmp_path: Path, tiny_model_dir: Path, h: Any
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    train = h.write_jsonl(folder / "train.jsonl", [h.conversation(i) for i in range(32)])
    val = h.write_jsonl(folder / "val.jsonl", [h.conversation(i) for i in range(4)])
    run_dir = tmp_path / "run"
    hp = {"max_steps": 20, "save_steps": 5, "save_total_limit": 1, "keep_best_k": 2, "learning_rate": 3e-2}
    result = h.run_child(h.write_config(run_dir, tiny_model_dir, train, val, hyperparameters=hp))
    assert result.returncode == 0, result.stderr[-3000:]
    events = h.read_events(run_dir)
    evals = {e["step"]: e["eval_loss"] for e in events if e["event"] == "eval"}
    assert sorted(evals) == [5, 10, 15, 20]  # an evaluation at every save, none left over at the end
    best = sorted(sorted(evals, key=lambda s: (evals[s], -s))[:2])
    on_disk = sorted(int(p.name.split("-")[1]) for p in (run_dir / "checkpoints").glob("checkpoint-*"))
    assert on_disk == sorted({*best, 20})  # save_total_limit 1 alone would have left only checkpoint-20
    ranking = [e for e in events if e["event"] == "best_checkpoints"]
    assert ranking[-1]["steps"] == best and ranking[-1]["scores"] == {str(s): evals[s] for s in best}
