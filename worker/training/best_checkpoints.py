"""Keep the K best checkpoints on disk (``keep_best_k`` by ``metric_for_best``), plus the newest.

The Trainer alone cannot do this: its rotation (``save_total_limit``) keeps the newest folders and at most one
"best", and only when an evaluation fell on the save's own step. Before this callback the studio ranked
checkpoints in an event while the Trainer's rotation deleted them: a run with ``keep_best_k: 2`` named steps
5 and 10 as best and kept 45 and 50 on disk.

Each checkpoint is scored by a value measured at its own step, never an older one:
- ``eval_loss``: the evaluation of that step (trainer_args evaluates at every save when ranking by it);
- ``loss``: the mean training loss logged since the previous checkpoint (works without a validation split);
- ``bleu4`` / ``repetition``: the quick evaluation of that save (run on every checkpoint when ranking by it).
A checkpoint without a score (a pause or cancel between saves) cannot be ranked and stays only while it is
the newest. The newest always stays: a paused, cancelled or lost run resumes from it. Scores persist in
``checkpoints/ranking.json`` so a resumed run ranks the folders of its earlier part too. Runs after the
quick-eval callback (it reads that save's result) and on the main process only (the folders are shared).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from app.i18n import in_english, sentence

LOWER_IS_BETTER = {"eval_loss", "loss", "repetition"}
RANKING_FILE = "ranking.json"


class BestCheckpoints(TrainerCallback):
    def __init__(
        self,
        *,
        keep: int,
        metric: str,
        checkpoints_dir: Path,
        write_event: Callable[[dict], None],
        quick_eval_result: Callable[[], dict | None] = lambda: None,
    ) -> None:
        self.keep = keep
        self.metric = metric
        self.checkpoints_dir = checkpoints_dir
        self.write_event = write_event
        self.quick_eval_result = quick_eval_result
        self.scores: dict[int, float] = self._read_scores()
        self._eval_loss: tuple[int, float] | None = None  # (step, value) of the latest evaluation
        self._losses: list[float] = []  # training losses logged since the previous save

    # -- scores -----------------------------------------------------------------------------------------
    def _read_scores(self) -> dict[int, float]:
        path = self.checkpoints_dir / RANKING_FILE
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(saved, dict) or saved.get("metric") != self.metric:
            return {}  # ranked by another metric before the resume: those numbers do not compare
        scores = saved.get("scores")
        return {int(s): float(v) for s, v in scores.items()} if isinstance(scores, dict) else {}

    def _write_scores(self) -> None:
        payload = {"metric": self.metric, "scores": {str(s): v for s, v in sorted(self.scores.items())}}
        temporary = self.checkpoints_dir / f".{RANKING_FILE}.tmp"
        temporary.write_text(json.dumps(payload))
        temporary.replace(self.checkpoints_dir / RANKING_FILE)  # never a half-written file

    def _score(self, step: int) -> float | None:
        if self.metric == "eval_loss":
            value = self._eval_loss[1] if self._eval_loss and self._eval_loss[0] == step else None
        elif self.metric == "loss":
            value = sum(self._losses) / len(self._losses) if self._losses else None
        else:
            result = self.quick_eval_result()
            value = result.get(self.metric) if result and result.get("step") == step else None
        return float(value) if value is not None and math.isfinite(value) else None

    def ranked(self) -> list[int]:
        """The steps of the best `keep` scored checkpoints, best first (ties: the later step)."""
        sign = 1 if self.metric in LOWER_IS_BETTER else -1
        return sorted(self.scores, key=lambda s: (sign * self.scores[s], -s))[: self.keep]

    # -- Trainer hooks ----------------------------------------------------------------------------------
    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict | None = None,
        **kwargs: Any,
    ) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and math.isfinite(float(loss)):
            self._losses.append(float(loss))

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict | None = None,
        **kwargs: Any,
    ) -> None:
        if metrics and metrics.get("eval_loss") is not None:
            self._eval_loss = (state.global_step, float(metrics["eval_loss"]))

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        step = state.global_step
        score = self._score(step)
        self._losses = []
        if not state.is_world_process_zero:
            return
        before = self.ranked()
        if score is not None:
            self.scores[step] = score
        best = self.ranked()
        removed = self._remove_older_than(step, keeping=set(best))
        self._write_scores()
        if best != before or removed:
            steps = ", ".join(str(s) for s in sorted(best)) or "–"
            said = (
                sentence(
                    "best by {metric}: steps {steps}; removed {removed}",
                    metric=self.metric,
                    steps=steps,
                    removed=", ".join(str(s) for s in removed),
                )
                if removed
                else sentence("best by {metric}: steps {steps}", metric=self.metric, steps=steps)
            )
            self.write_event(
                {
                    "event": "best_checkpoints",
                    "step": step,
                    "steps": sorted(best),
                    "metric": self.metric,
                    "scores": {str(s): self.scores[s] for s in sorted(best)},
                    "removed": removed,
                    "message": in_english(said),
                    "said": said,
                }
            )

    def _remove_older_than(self, step: int, keeping: set[int]) -> list[int]:
        # Only older folders: a later one is from a run resumed at an earlier checkpoint, the user's to keep.
        removed = []
        for folder in self.checkpoints_dir.glob("checkpoint-*"):
            tail = folder.name.rsplit("-", 1)[-1]
            if folder.is_dir() and tail.isdigit() and int(tail) < step and int(tail) not in keeping:
                shutil.rmtree(folder, ignore_errors=True)
                self.scores.pop(int(tail), None)
                removed.append(int(tail))
        return sorted(removed)
