"""Trainer callbacks of the training child: metrics events, graceful stop on SIGTERM, peak memory.

Pattern from LLaMA-Factory's ``train/callbacks.py`` (a rank-0 metrics file and a signal-driven stop), cut
down to what the contract needs.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from worker.peak_rss import peak_rss_bytes
from worker.training.budget import BUDGET_PLACEHOLDER_STEPS
from worker.training.collate import Collator
from worker.training.events import EventWriter
from worker.training.stop import StopFlag

TRAIN_KEYS = ("loss", "learning_rate", "grad_norm")


def known_total_steps(state: TrainerState) -> int | None:
    """The run's optimizer steps, or None while a time budget has not set them yet: its placeholder
    (worker/training/budget.py) is no step count, and as one it made progress read 0 % and the ETA years."""
    return state.max_steps if state.max_steps < BUDGET_PLACEHOLDER_STEPS else None


def peak_memory_bytes() -> int:
    """Peak accelerator memory when training on CUDA, else the process' peak resident set size."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return int(torch.cuda.max_memory_allocated())
    return peak_rss_bytes()


class GracefulStop(TrainerCallback):
    """At the end of the step during which a stop was requested: save a checkpoint and stop training."""

    def __init__(self, flag: StopFlag) -> None:
        self.flag = flag

    def _agreed(self) -> bool:
        # With several processes every rank must stop at the same step, or the next collective hangs.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # NCCL reduces only CUDA tensors; gloo (CPU runs) only CPU ones.
            device = (
                torch.device("cuda", torch.cuda.current_device())
                if torch.distributed.get_backend() == "nccl"
                else "cpu"
            )
            value = torch.tensor([1.0 if self.flag.requested else 0.0], device=device)
            torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
            self.flag.requested = bool(value.item())
        return self.flag.requested

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if self._agreed():
            control.should_save = True
            control.should_training_stop = True
        return control


class FinalEvaluation(TrainerCallback):
    """The last step (max_steps reached, or a time budget spent) is evaluated before its checkpoint is
    saved, and once. The Trainer alone evaluates a run with eval_strategy "epoch" at the epoch's end, after
    the final save: quick evaluation and the best-checkpoint ranking then read an older eval loss (seen in
    use: the final quick_eval row showed step 8's loss at step 12), and a time budget that asked for its own
    evaluation got two. Runs after TimeBudget (which sets max_steps to the step it stops at)."""

    def __init__(self, has_eval: bool) -> None:
        self.has_eval = has_eval
        self.evaluated_at: int | None = None

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if self.has_eval and state.global_step >= state.max_steps:
            control.should_evaluate = True  # _maybe_log_save_evaluate evaluates before it saves
        return control

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.evaluated_at = state.global_step

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if control.should_training_stop and self.evaluated_at == state.global_step:
            control.should_evaluate = False  # the epoch ended because training stopped: evaluated above
        return control


class MetricsEvents(TrainerCallback):
    """The Trainer's begin, logs and saves as metrics.jsonl events (start / train / eval / checkpoint);
    ``warnings`` about the run's data (app.i18n sentences) follow the start event (which stays the first)."""

    def __init__(
        self,
        writer: EventWriter,
        collator: Collator,
        start_fields: dict[str, Any] | None = None,
        checkpoint_prefix: str = "checkpoints",
        warnings: list[dict] | None = None,
    ) -> None:
        self.writer = writer
        self.warnings = warnings or []
        self.start_fields = start_fields
        self.collator = collator
        self.checkpoint_prefix = checkpoint_prefix
        self._last_time = time.perf_counter()
        self._last_tokens = 0
        self.train_start = self._last_time
        self.tokens_at_start = 0

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._last_time = self.train_start = time.perf_counter()
        self._last_tokens = self.tokens_at_start = self.collator.tokens_seen
        if self.start_fields is not None and state.is_world_process_zero:
            # Written here because only now does the Trainer know the total number of optimizer steps.
            self.writer.write("start", total_steps=known_total_steps(state), **self.start_fields)
            for said in self.warnings:
                self.writer.say("warning", said)

    def tokens_per_second(self) -> float:
        """Real (non-pad) tokens per second over the whole run so far."""
        elapsed = time.perf_counter() - self.train_start
        return (self.collator.tokens_seen - self.tokens_at_start) / elapsed if elapsed > 0 else 0.0

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        if "eval_loss" in logs:
            extra = {k: v for k, v in logs.items() if k.startswith("eval_") and k != "eval_loss"}
            self.writer.write("eval", step=state.global_step, eval_loss=logs["eval_loss"], **extra)
            return
        if "loss" not in logs:
            return  # the final summary (train_runtime, ...) is reported by the end event instead
        now = time.perf_counter()
        # Per-process tokens times the number of processes: every rank sees a same-sized share of the data.
        tokens = (self.collator.tokens_seen - self._last_tokens) * max(1, args.world_size)
        rate = tokens / (now - self._last_time) if now > self._last_time else 0.0
        self._last_time, self._last_tokens = now, self.collator.tokens_seen
        record = {key: logs[key] for key in TRAIN_KEYS if key in logs}
        self.writer.write(
            "train",
            step=state.global_step,
            epoch=round(state.epoch or 0.0, 6),
            **record,
            tokens_per_second=round(rate, 2),
            total_steps=known_total_steps(state),
        )

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero:
            path = f"{self.checkpoint_prefix}/checkpoint-{state.global_step}"
            self.writer.write("checkpoint", step=state.global_step, path=path)


class LossWatch(TrainerCallback):
    """The collapse watch that is always on: every logged training loss (non-finite, spike, divergence) and
    every eval loss (rising) goes through worker/evaluation/collapse.py, whatever the quick-eval setting.
    A new signal writes a ``collapse`` event; with action pause / stop the step saves a checkpoint and stops
    (the child then ends "paused" / "stopped" with the reason, shown on the job page)."""

    def __init__(self, action: str, write_event: Any) -> None:
        from worker.evaluation.collapse import CollapseMonitor

        self.action = action
        self.write_event = write_event
        self.monitor = CollapseMonitor()

    def _handle(self, signals: list, control: TrainerControl) -> None:
        for s in signals:
            self.write_event(s.event(self.action))
            if self.action in ("pause", "stop"):
                control.should_save = True  # a paused job resumes from this checkpoint
                control.should_training_stop = True

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        if "loss" in logs:
            self._handle(self.monitor.observe_loss(state.global_step, float(logs["loss"])), control)
        if "eval_loss" in logs:
            self._handle(self.monitor.observe_eval_loss(state.global_step, float(logs["eval_loss"])), control)
