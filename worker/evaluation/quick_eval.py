"""Quick evaluation and collapse detection DURING training, as a transformers TrainerCallback.

Every Nth checkpoint save (``quick_eval_every_n_checkpoints``; 0 turns it off) the callback generates greedy
answers for ``quick_eval_samples`` validation rows, scores char BLEU-4 (nltk, method3, x100) and generation
health, and writes a ``quick_eval`` event. Every generation sample (and, used alone, every loss) goes through
the collapse detectors (in the training child the loss signals run in its always-on LossWatch, whatever this
setting: it passes watch_losses=False); a new signal writes
``{"event": "collapse", "step", "kind", "reason", "said", "action"}``,
and with action ``pause`` or ``stop`` the callback asks the Trainer to save and stop (the supervisor tells
pause from stop by the event). ``last_result`` is the latest ``quick_eval`` event: worker/training/
best_checkpoints.py ranks checkpoints by its bleu4 or repetition when ``metric_for_best`` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from transformers import TrainerCallback

from app.jobs.hyperparameters import TrainHyperparameters
from worker.evaluation.collapse import CollapseMonitor, CollapseSignal, generation_health
from worker.evaluation.generation import generate_texts, render_prompt, resolve_generation, split_row
from worker.evaluation.text_metrics import bleu_scores

# Greedy tokens per quick-eval sample: enough to see repetition or an empty answer, cheap enough per save.
QUICK_EVAL_MAX_NEW_TOKENS = 64


class QuickEvalCallback(TrainerCallback):
    def __init__(
        self,
        *,
        hyperparameters: TrainHyperparameters | Mapping[str, Any],
        tokenizer: Any,
        eval_rows: list[dict],
        write_event: Callable[[dict], None],
        watch_losses: bool = True,
        max_new_tokens: int = QUICK_EVAL_MAX_NEW_TOKENS,
    ) -> None:
        # One source of defaults and bounds: the job's own TrainHyperparameters (a dict is validated by it,
        # so an unknown name or a bad value fails here exactly as it would for a job).
        hp = (
            hyperparameters
            if isinstance(hyperparameters, TrainHyperparameters)
            else TrainHyperparameters.model_validate(dict(hyperparameters))
        )
        # The training child runs its own always-on LossWatch and passes False; used alone, this callback
        # watches the losses itself.
        self.watch_losses = watch_losses
        self.every_n = hp.quick_eval_every_n_checkpoints
        self.n_samples = hp.quick_eval_samples
        self.action = hp.collapse_action
        self.settings = resolve_generation("greedy", {"max_new_tokens": max_new_tokens})
        self.tokenizer = tokenizer
        self.samples = [split_row(r) for r in eval_rows[: self.n_samples]]
        self.write_event = write_event
        self.monitor = CollapseMonitor()
        self.saves = 0
        self.last_eval_loss: float | None = None
        self.last_eval_step: int | None = None  # evaluations need not fall on checkpoints: said with the loss
        self.last_result: dict | None = None
        self.healthy_seen = False
        self.flagged_unhealthy = False

    # -- collapse -------------------------------------------------------------------------------------
    def _handle(self, signals: list[CollapseSignal], control: Any, action: str | None = None) -> None:
        action = action or self.action
        for s in signals:
            self.write_event(s.event(action))
            if action in ("pause", "stop"):
                # Save first so a paused job resumes from here; then stop at the end of this step.
                control.should_save = True
                control.should_training_stop = True

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        step = state.global_step
        if "loss" in logs and self.watch_losses:
            self._handle(self.monitor.observe_loss(step, float(logs["loss"])), control)
        if "eval_loss" in logs:
            self.last_eval_loss, self.last_eval_step = float(logs["eval_loss"]), step
            if self.watch_losses:
                self._handle(self.monitor.observe_eval_loss(step, self.last_eval_loss), control)

    # -- quick eval -----------------------------------------------------------------------------------
    def _generate(self, model: Any) -> list[str]:
        tok = self.tokenizer
        # Training collators may rely on right padding: restore the tokenizer as we found it.
        saved = (tok.padding_side, tok.truncation_side, tok.pad_token)
        was_training = model.training
        rendered = [render_prompt(tok, messages) for messages, _ in self.samples]
        try:
            texts = generate_texts(
                model,
                tok,
                [text for text, _ in rendered],
                self.settings,
                batch_size=max(1, len(rendered)),
                templated=rendered[0][1],
            )
        finally:
            tok.padding_side, tok.truncation_side = saved[0], saved[1]
            if saved[2] is None:
                tok.pad_token = None
            if was_training:
                model.train()
        return [t[0] for t in texts]

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.saves += 1
        step = state.global_step
        if self.samples and model is not None and self.every_n > 0 and self.saves % self.every_n == 0:
            predictions = self._generate(model)
            references = [ref for _, ref in self.samples]
            bleu = bleu_scores(predictions, references, tokenization="char", smoothing="method3")
            health = generation_health(predictions)
            event = {
                "event": "quick_eval",
                "step": step,
                "bleu4": bleu["sentence"]["bleu4"],
                "eval_loss": self.last_eval_loss,
                "eval_loss_step": self.last_eval_step,
                "repetition": health["repetition"],
                "empty_share": health["empty_share"],
                "distinct": health["distinct"],
                "samples": [
                    {"prompt": messages[-1]["content"], "prediction": p, "reference": r}
                    for (messages, r), p in zip(self.samples, predictions, strict=True)
                ],
            }
            self.write_event(event)
            self.last_result = event
            signals = self.monitor.observe_generations(step, predictions)
            degenerate = self.monitor.generations_degenerate
            # A collapse is a change for the worse: answers degenerate from the first check on (an untrained
            # or random-init model) are flagged once, not paused for, and do not use up the signal; once a
            # check was healthy, degenerate answers act with collapse_action.
            if self.healthy_seen or not degenerate:
                self._handle(signals, control)
            else:
                if not self.flagged_unhealthy:
                    self._handle(signals, control, "flag")
                    self.flagged_unhealthy = True
                self.monitor._fired.discard("degenerate_generations")
            self.healthy_seen = self.healthy_seen or not degenerate
            # The checkpoint of this step was just written: _handle's save request would write it twice.
            control.should_save = False


def make_quick_eval_callback(
    *,
    hyperparameters: TrainHyperparameters | Mapping[str, Any],
    tokenizer: Any,
    eval_rows: list[dict],
    write_event: Callable[[dict], None],
    watch_losses: bool = True,
    max_new_tokens: int = QUICK_EVAL_MAX_NEW_TOKENS,
) -> TrainerCallback:
    """The training child's hook (docs/CONTRACTS.md events): quick eval and collapse detection."""
    return QuickEvalCallback(
        hyperparameters=hyperparameters,
        tokenizer=tokenizer,
        eval_rows=eval_rows,
        write_event=write_event,
        watch_losses=watch_losses,
        max_new_tokens=max_new_tokens,
    )
