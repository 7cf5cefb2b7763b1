"""What a lost worker's training run wrote to disk but never reported: recovered before the job runs again.

A supervisor turns the child's events (metrics.jsonl) into rows every POLL_SECONDS, so when its worker is
killed the rows lag the run; and the Trainer's rotation (save_total_limit) may already have deleted the
checkpoint folders those rows name. The re-queue (app/jobs/scheduling.py) can only choose among the rows, so
it may find no folder at all and restart from step 0 while a newer checkpoint sits on disk. Found by
tests/queue/test_two_workers.py under the full suite's load: a kill -9 at "step 6" in the rows restarted a
run whose child had already saved checkpoint-16 and rotated checkpoint-4 away.

The claiming worker runs this first. A checkpoint counts only if the child's own `checkpoint` event names it
(the event is written after the save finished, so the folder is whole) and the folder is still there.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.i18n import in_english, sentence
from app.models import Job, JobEvent, utcnow
from worker.event_sink import EventSink, logged_steps, new_steps_only
from worker.training.events import read_events

log = logging.getLogger(__name__)
RECOVERED_KINDS = ("train", "eval", "checkpoint")


def step_of(checkpoint_path: str | None) -> int:
    """The step a `checkpoint-N` folder holds; 0 for none or a name without a number."""
    if not checkpoint_path:
        return 0
    tail = Path(checkpoint_path).name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _newest_whole_checkpoint(run_dir: Path, events: list[dict[str, Any]]) -> dict[str, Any] | None:
    root = run_dir.resolve()
    whole = []
    for event in events:
        if event.get("event") != "checkpoint":
            continue
        folder = (run_dir / str(event.get("path", ""))).resolve()
        if root in folder.parents and folder.is_dir():
            whole.append(event)
    return max(whole, key=lambda e: int(e.get("step", 0)), default=None)


def recover_unreported_checkpoint(session: Session, job: Job, run_dir: Path) -> int | None:
    """Resume a re-queued training job from the newest whole checkpoint its lost run left, when that is
    newer than the re-queue's choice: the events up to it become rows (metrics, checkpoints) and
    `resume_from_checkpoint` points at it. Returns the step it now resumes from; None if nothing changed."""
    if job.kind != "train":
        return None
    events = read_events(run_dir)
    newest = _newest_whole_checkpoint(run_dir, events)
    chosen = step_of((job.config or {}).get("resume_from_checkpoint"))
    if newest is None or int(newest["step"]) <= chosen:
        return None
    step = int(newest["step"])
    seen = logged_steps(session, job.id)
    known_checkpoints = {c.step for c in job.checkpoints}
    missing = [
        e
        for e in events
        if e.get("event") in RECOVERED_KINDS
        and int(e.get("step", 0)) <= step
        and not (e["event"] == "checkpoint" and int(e.get("step", 0)) in known_checkpoints)
    ]
    sink = EventSink(job.id, run_dir)
    sink.apply(session, job, new_steps_only(missing, seen))
    session.flush()
    session.expire(job, ["checkpoints"])  # the rows just added, so their rotated folders are marked too
    sink.mark_rotated(job)
    job.config = {**(job.config or {}), "resume_from_checkpoint": str(run_dir / str(newest["path"]))}
    job.result = {**(job.result or {}), "first_step": step}
    job.step = step
    said = sentence(
        "The lost run had saved a checkpoint at step {step} that it had not reported yet: resuming from "
        "there instead of step {chosen}.",
        step=step,
        chosen=chosen,
    )
    session.add(
        JobEvent(
            job_id=job.id,
            kind="notice",
            step=step,
            message=in_english(said),
            data={
                "recovered_checkpoint": newest["path"],
                "resume_step": step,
                "requeue_step": chosen,
                "said": said,
            },
            created_at=utcnow(),
        )
    )
    log.warning("job %s: resuming from unreported checkpoint %s (step %s)", job.id, newest["path"], step)
    return step
