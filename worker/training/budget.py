"""`max_train_minutes`: a time budget for the training loop.

The Trainer starts with a step count too large to reach (BUDGET_PLACEHOLDER_STEPS), so its epoch loop never
runs out of data first. After SKIP_STEPS warm-up steps (the first steps pay for allocation and kernel
selection), the callback times MEASURE_STEPS steps, sets the total so the run ends within the budget, and
rebuilds the learning-rate schedule for that total: warm-up then cosine (or linear) decay that reaches its end
on time. It re-times at 25/50/75/90 % of the run (evaluations, saves, a drifting machine; a point already
passed when the count was set is skipped, so a short run does not re-time on every step), says so in a
notice whenever the count changes, and stops at once if the clock runs out anyway. The last step saves (and
is evaluated first, by FinalEvaluation); the child then writes final/ and ends "succeeded".
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from app.i18n import in_english, sentence

BUDGET_PLACEHOLDER_STEPS = 10_000_000
SKIP_STEPS = 2
MEASURE_STEPS = 3
# Kept free for the final save and evaluation (and timing noise): 5 % of the budget.
RESERVE = 0.05
# Re-timed at these fractions of the run with the mean step time so far (evaluations and saves included).
RECHECK_AT = (0.25, 0.5, 0.75, 0.9)


def _retarget_scheduler(scheduler: Any, total: int) -> bool:
    """Point a LambdaLR built by transformers' get_scheduler at a new total; False if it is not one."""
    lambdas = getattr(scheduler, "lr_lambdas", None)
    if not lambdas:
        return False
    changed = False
    for i, fn in enumerate(lambdas):
        if isinstance(fn, functools.partial) and "num_training_steps" in fn.keywords:
            lambdas[i] = functools.partial(fn.func, *fn.args, **{**fn.keywords, "num_training_steps": total})
            changed = True
    return changed


class TimeBudget(TrainerCallback):
    def __init__(self, minutes: float, *, cap_steps: int | None, write_event: Any) -> None:
        self.budget_s = minutes * 60.0
        self.cap = cap_steps if cap_steps and cap_steps > 0 else None
        self.write_event = write_event
        self.start = 0.0
        self.t_measure: float | None = None
        self.step_measure = 0
        self.total: int | None = None
        self.rechecks = list(RECHECK_AT)

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.start = time.perf_counter()
        self.step_measure = state.global_step  # a resumed run measures from where it resumed

    def _plan(self, state: TrainerState, now: float, scheduler: Any) -> None:
        per_step = (now - self.t_measure) / max(1, state.global_step - self.step_measure)
        left = self.budget_s * (1 - RESERVE) - (now - self.start)
        total = state.global_step + max(0, math.floor(left / per_step)) if per_step > 0 else state.global_step
        if self.cap is not None:
            total = min(total, self.cap)
        total = max(total, state.global_step)
        changed = total != self.total
        self.total = state.max_steps = total
        # Re-timing points this run has already passed (a short run: 25 % of 10 steps is step 3) are dropped.
        self.rechecks = [f for f in self.rechecks if f * total > state.global_step]
        if not changed:
            return
        retargeted = _retarget_scheduler(scheduler, total)
        said = sentence(
            "time budget {minutes:g} min: {seconds:.1f} s/step measured, training {steps} steps"
            if retargeted
            else "time budget {minutes:g} min: {seconds:.1f} s/step measured, training {steps} steps (the "
            "learning-rate schedule could not be re-timed)",
            minutes=self.budget_s / 60,
            seconds=per_step,
            steps=total,
        )
        self.write_event(
            {
                "event": "notice",
                "step": state.global_step,
                "message": in_english(said),
                "said": said,
                "seconds_per_step": per_step,
                "total_steps": total,
            }
        )

    def on_step_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        lr_scheduler: Any = None,
        **kwargs: Any,
    ) -> TrainerControl:
        now = time.perf_counter()
        done = state.global_step - self.step_measure
        first_count = self.t_measure is not None and self.total is None and done >= MEASURE_STEPS
        recheck = (
            self.total is not None
            and bool(self.rechecks)
            and self.rechecks[0] * self.total <= state.global_step < self.total
        )
        if self.t_measure is None and done >= SKIP_STEPS:
            self.t_measure, self.step_measure = now, state.global_step
        elif first_count or recheck:
            self._plan(state, now, lr_scheduler)
        out_of_time = now - self.start >= self.budget_s
        if (self.total is not None and state.global_step >= self.total) or out_of_time:
            state.max_steps = state.global_step  # progress reads 100 %, and the end event "not stopped early"
            control.should_training_stop = True
            control.should_save = True  # and FinalEvaluation (worker/training/callbacks.py) evaluates first
        return control
