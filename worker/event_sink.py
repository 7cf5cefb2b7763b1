"""Turns the child's events (docs/CONTRACTS.md) into database rows: metrics, checkpoints, job events."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.jobs.live import publish
from app.models import Checkpoint, Job, JobEvent, JobMetric, utcnow

# Events that become rows the job page lists (beyond metrics and checkpoints).
NOTABLE_EVENTS = {"quick_eval", "collapse", "warning", "best_checkpoints", "resumed", "notice"}


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    # NaN and inf are kept out of the numeric columns (PostgreSQL would take them, JSON would not);
    # the collapse detector reports them as events instead.
    return number if math.isfinite(number) else None


class EventSink:
    def __init__(self, job_id: int, run_dir: Path) -> None:
        self.job_id = job_id
        self.run_dir = run_dir
        self.end_event: dict[str, Any] | None = None

    def apply(self, session: Session, job: Job, events: list[dict[str, Any]]) -> None:
        if events:
            self._after_commit(session)
        now = utcnow()
        for event in events:
            kind = event.get("event")
            if kind == "start":
                job.total_steps = event.get("total_steps") or job.total_steps
                # The ETA counts from here: model loading before the first step says nothing about step time.
                job.result = {
                    **(job.result or {}),
                    "start": {k: v for k, v in event.items() if k != "event"},
                    "train_started_at": now.isoformat(),
                }
            elif kind in ("train", "progress"):
                self._train(session, job, event, now)
            elif kind == "eval":
                session.add(
                    JobMetric(
                        job_id=self.job_id,
                        kind="eval",
                        step=int(event.get("step", 0)),
                        epoch=_finite(event.get("epoch")),
                        eval_loss=_finite(event.get("eval_loss")),
                        created_at=now,
                    )
                )
            elif kind == "checkpoint":
                self._checkpoint(session, job, event, now)
            elif kind == "end":
                self.end_event = event
                if event.get("peak_memory_bytes"):
                    job.peak_memory_bytes = int(event["peak_memory_bytes"])
                job.result = {**(job.result or {}), "end": {k: v for k, v in event.items() if k != "event"}}
            elif kind in NOTABLE_EVENTS:
                message = event.get("reason") or event.get("message")
                session.add(
                    JobEvent(
                        job_id=self.job_id,
                        kind=kind,
                        step=event.get("step"),
                        message=str(message)[:1000] if message else None,
                        data={k: v for k, v in event.items() if k != "event"},
                        created_at=now,
                    )
                )
                if kind == "best_checkpoints" and event.get("removed"):
                    # best_checkpoints.py removed these folders: their rows (perhaps added in this same
                    # batch, so not yet in job.checkpoints) are marked now, not at the next save.
                    session.flush()
                    session.expire(job, ["checkpoints"])
                    self.mark_rotated(job)
                if kind == "collapse":
                    flags = list((job.result or {}).get("flags", []))
                    flag = {
                        "step": event.get("step"),
                        "kind": event.get("kind"),
                        "reason": message,
                        "said": event.get("said"),
                        "action": event.get("action"),
                    }
                    flags.append(flag)
                    job.result = {**(job.result or {}), "flags": flags}
                    session.info.setdefault("ftstudio_collapse_flags", []).append(flag)

    def _after_commit(self, session: Session) -> None:
        """Once these rows are committed (the supervisor's session_scope commits), wake the job's live
        streams and send collapse webhooks: a watcher woken before the commit would read nothing new."""
        if session.info.get("ftstudio_live_hook"):
            return
        session.info["ftstudio_live_hook"] = True
        job_id = self.job_id

        def committed(committed_session: Session) -> None:
            committed_session.info.pop("ftstudio_live_hook", None)
            publish(job_id)
            for flag in committed_session.info.pop("ftstudio_collapse_flags", []):
                from worker.notify import collapse_flagged  # the notifier pulls httpx: only when needed

                collapse_flagged(job_id, flag)

        sa_event.listen(session, "after_commit", committed, once=True)

    def _train(self, session: Session, job: Job, event: dict[str, Any], now: Any) -> None:
        step = int(event.get("step", 0))
        job.step = max(job.step or 0, step)
        if event.get("total_steps"):
            job.total_steps = int(event["total_steps"])
        loss = _finite(event.get("loss"))
        if loss is not None:
            job.loss = loss
        if event.get("event") == "train":
            session.add(
                JobMetric(
                    job_id=self.job_id,
                    kind="train",
                    step=step,
                    epoch=_finite(event.get("epoch")),
                    loss=loss,
                    learning_rate=_finite(event.get("learning_rate")),
                    grad_norm=_finite(event.get("grad_norm")),
                    tokens_per_second=_finite(event.get("tokens_per_second")),
                    created_at=now,
                )
            )

    def _checkpoint(self, session: Session, job: Job, event: dict[str, Any], now: Any) -> None:
        relative = str(event.get("path", ""))
        absolute = (self.run_dir / relative).resolve()
        if self.run_dir.resolve() not in absolute.parents:
            return  # the child only writes inside its run folder; anything else is ignored
        session.add(
            Checkpoint(
                job_id=self.job_id,
                step=int(event.get("step", 0)),
                path=relative,
                size_bytes=folder_size(absolute) if absolute.exists() else 0,
                created_at=now,
            )
        )
        self.mark_rotated(job)

    def mark_rotated(self, job: Job) -> None:
        """save_total_limit (or keep_best_k) rotates old folders away: keep their rows, marked deleted."""
        for checkpoint in job.checkpoints:
            if not checkpoint.deleted and not (self.run_dir / checkpoint.path).exists():
                checkpoint.deleted = True


def logged_steps(session: Session, job_id: int) -> dict[str, int]:
    """The last step with a row, per metric kind: what new_steps_only needs to never log a step twice."""
    query = select(JobMetric.kind, func.max(JobMetric.step)).where(JobMetric.job_id == job_id)
    return dict(session.execute(query.group_by(JobMetric.kind)).all())


def new_steps_only(events: list[dict], seen: dict[str, int]) -> list[dict]:
    """Drops train/eval events of steps that already have a row, and remembers the new ones."""
    kept = []
    for event in events:
        kind = event.get("event")
        if kind in ("train", "eval"):
            step = int(event.get("step", 0))
            if step <= seen.get(kind, -1):
                continue
            seen[kind] = step
        kept.append(event)
    return kept
