"""The time budget's callback (worker/training/budget.py) on a fake clock, and the final evaluation beside it:
what a short budget run did in use (a notice on every step from 5 to 9 saying the same count; the final
evaluation run twice) must not recur.
The budget run through the real training child is tests/training/test_precision_budget_collapse.py."""

from __future__ import annotations

from typing import Any

import pytest
from transformers import TrainerControl, TrainerState

from worker.training import budget
from worker.training.budget import TimeBudget
from worker.training.callbacks import FinalEvaluation


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(monkeypatch: pytest.MonkeyPatch, step_seconds: list[float], minutes: float = 1.0) -> dict[str, Any]:
    """Step through a run whose step i takes step_seconds[i] (the last value repeats) until the budget
    stops it; returns the events written, the steps taken and the last control."""
    clock = Clock()
    monkeypatch.setattr(budget.time, "perf_counter", clock)
    events: list[dict] = []
    callback = TimeBudget(minutes, cap_steps=None, write_event=events.append)
    state = TrainerState()
    state.max_steps = budget.BUDGET_PLACEHOLDER_STEPS
    control = TrainerControl()
    callback.on_train_begin(None, state, control)  # type: ignore[arg-type]
    while not control.should_training_stop and state.global_step < 1000:
        clock.now += step_seconds[min(state.global_step, len(step_seconds) - 1)]
        state.global_step += 1
        control = callback.on_step_end(None, state, control)  # type: ignore[arg-type]
    return {"events": events, "state": state, "control": control, "callback": callback}


def test_a_steady_run_announces_its_step_count_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # 5 s a step, 60 s budget: measured over steps 3-5 (after 2 warm-up steps), 57 s usable (5 % reserve).
    run = _run(monkeypatch, [5.0])
    notices = [e for e in run["events"] if e["event"] == "notice"]
    assert len(notices) == 1, notices
    assert notices[0]["step"] == 5 and notices[0]["total_steps"] == 11  # 5 + floor((57 - 25) / 5)
    assert run["state"].global_step == 11 and run["state"].max_steps == 11
    assert run["control"].should_save


def test_a_slowing_run_announces_each_new_count(monkeypatch: pytest.MonkeyPatch) -> None:
    # From step 6 on every step takes 10 s: the re-timing at 50 % of the run sees it and shortens the run.
    run = _run(monkeypatch, [5.0] * 5 + [10.0])
    totals = [e["total_steps"] for e in run["events"] if e["event"] == "notice"]
    assert totals[0] == 11 and len(totals) == len(set(totals)) >= 2 and totals[-1] < 11
    assert run["state"].global_step == totals[-1]


def test_the_final_step_is_evaluated_before_its_save_and_once(monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run(monkeypatch, [5.0])
    state, control = run["state"], run["control"]
    final = FinalEvaluation(has_eval=True)  # runs after the budget, which set max_steps to this step
    control = final.on_step_end(None, state, control)  # type: ignore[arg-type]
    assert control.should_evaluate and control.should_save  # the Trainer evaluates, then saves
    final.on_evaluate(None, state, control)  # type: ignore[arg-type]
    # Stopping ends the epoch: with eval_strategy "epoch" the Trainer's flow callback asks again.
    control.should_evaluate = True
    assert not final.on_epoch_end(None, state, control).should_evaluate  # type: ignore[arg-type]
    # An epoch that ends on its own (training goes on) keeps its evaluation; a run without a validation
    # split is never asked to evaluate.
    ongoing = TrainerControl(should_evaluate=True)
    assert final.on_epoch_end(None, TrainerState(global_step=3), ongoing).should_evaluate  # type: ignore[arg-type]
    no_split = FinalEvaluation(has_eval=False).on_step_end(None, state, TrainerControl())  # type: ignore[arg-type]
    assert not no_split.should_evaluate
