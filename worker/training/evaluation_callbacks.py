"""Evaluation during training, as the child wires it: the quick check, the best-checkpoint ranking, and the
record of a collapse that asked to pause or stop (the end event carries its reason).

Split from worker/training/sft.py so the child reads as its steps; each function returns a Trainer callback
or None, and says in metrics.jsonl why one asked for is not there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.i18n import sentence
from app.jobs.hyperparameters import QUICK_CHECK_METRICS, TrainHyperparameters
from app.jobs.trainer_args import ranks_checkpoints
from worker.training.events import EventWriter


class CollapseWatch:
    """Passes quick-eval events to metrics.jsonl and remembers a collapse that asked to pause or stop."""

    def __init__(self, writer: EventWriter) -> None:
        self.writer = writer
        self.action: str | None = None
        self.reason: str | None = None
        self.said: dict | None = None  # the reason as a sentence: the job page says it in its language

    def __call__(self, record: dict[str, Any]) -> None:
        if record.get("event") == "collapse" and record.get("action") in ("pause", "stop"):
            self.action, self.reason, self.said = record["action"], record.get("reason"), record.get("said")
        self.writer(record)


def quick_eval_callback(
    hp: TrainHyperparameters, tokenizer: Any, eval_rows: list, writer: EventWriter, watch: CollapseWatch
) -> Any:
    """The quick check of every Nth checkpoint, or None (with a warning) when its modules are missing."""
    try:
        from worker.evaluation.quick_eval import make_quick_eval_callback
    except ImportError as exc:
        writer.say(
            "warning",
            sentence(
                "quick evaluation is not available ({error}); training goes on without it", error=str(exc)
            ),
        )
        return None
    return make_quick_eval_callback(
        hyperparameters=hp,
        tokenizer=tokenizer,
        eval_rows=eval_rows,
        write_event=watch,
        watch_losses=False,  # LossWatch does, on every job
    )


def best_checkpoints_callback(
    hp: TrainHyperparameters, run_dir: Path, writer: EventWriter, *, has_eval: bool, quick: Any
) -> Any:
    """keep_best_k's callback, or None (and a warning when asked for but not possible on this data)."""
    from worker.training.best_checkpoints import BestCheckpoints

    if not hp.keep_best_k:
        return None
    if not ranks_checkpoints(hp, has_eval):
        writer.say(
            "warning",
            sentence(
                "keep_best_k ranks checkpoints by {metric}, which needs a validation split; this dataset has "
                "none, so the newest {kept} checkpoints are kept",
                metric=hp.metric_for_best,
                kept=hp.save_total_limit,
            ),
        )
        return None
    if hp.metric_for_best in QUICK_CHECK_METRICS and quick is None:
        return None  # quick evaluation is unavailable (warned): unranked, every checkpoint stays
    checkpoints = run_dir / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    return BestCheckpoints(
        keep=hp.keep_best_k,
        metric=hp.metric_for_best,
        checkpoints_dir=checkpoints,
        write_event=writer,
        quick_eval_result=lambda: quick.last_result if quick is not None else None,
    )
