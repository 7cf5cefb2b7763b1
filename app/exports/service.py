"""Export a train job: check the request before anything is queued, launch an export job on the same
machinery as training, find the exported folder again for a download.

The export itself runs in the worker (worker/training/export.py, kind "export"); its success hook
(worker/hooks/export.py) puts a merged export into the model catalog.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.errors import Conflict, InvalidInput, NotFound
from app.exports.schemas import EXPORT_MODES, MODE_REASONS, ExportRequest, default_mode
from app.jobs.progress import build_job_read
from app.jobs.schemas import JobRead
from app.jobs.service import JobService
from app.models import Job, JobKind, JobStatus
from app.models.base import owned_by
from app.settings import get_settings

FINAL_DIR = "final"  # what the training child leaves at the end (docs/CONTRACTS.md: end.output_path)


def check_mode(method: str, mode: str) -> None:
    """422 naming ``mode`` when ``method`` cannot be exported that way (the engine would refuse it later)."""
    allowed = EXPORT_MODES.get(method)
    if allowed is None:
        raise InvalidInput(f"Jobs trained with method '{method}' cannot be exported.", field="method")
    if mode not in allowed:
        reason = MODE_REASONS.get(method, f"{method} cannot be exported as {mode}")
        raise InvalidInput(
            f"mode: {reason}; export a {method} job with mode '{allowed[0]}'.",
            field="mode",
        )


def inside(folder: Path, root: Path) -> bool:
    """Whether ``folder`` (after resolving links and '..') lies inside ``root``."""
    try:
        folder.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def pick_source(job: Job, checkpoint_step: int | None) -> tuple[Path, str]:
    """The folder to export and a short label ("final" or "step-N").

    A chosen step must be a checkpoint that is still on disk; without a step, the final model of a
    succeeded job, else its newest checkpoint (a cancelled or failed job can still be exported)."""
    run_dir = Path(job.run_dir) if job.run_dir else None
    alive = [c for c in job.checkpoints if not c.deleted]
    if checkpoint_step is not None:
        match = [c for c in alive if c.step == checkpoint_step]
        if not match or run_dir is None:
            steps = ", ".join(str(c.step) for c in alive) or "none"
            raise InvalidInput(
                f"checkpoint_step: job {job.id} has no checkpoint at step {checkpoint_step} "
                f"(checkpoints on disk: {steps}).",
                field="checkpoint_step",
            )
        folder = run_dir / match[0].path
        if not folder.is_dir():
            raise Conflict(f"The checkpoint of step {checkpoint_step} is no longer on disk ({folder}).")
        return folder, f"step-{checkpoint_step}"
    if run_dir is not None and job.status == JobStatus.SUCCEEDED and (run_dir / FINAL_DIR).is_dir():
        return run_dir / FINAL_DIR, FINAL_DIR
    for checkpoint in reversed(alive):
        if run_dir is not None and (run_dir / checkpoint.path).is_dir():
            return run_dir / checkpoint.path, f"step-{checkpoint.step}"
    raise Conflict(
        f"Job {job.id} has nothing to export yet: it is {job.status} and has no checkpoint on disk.",
        field="checkpoint_step",
    )


class ExportService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.jobs = JobService(session)

    def create(self, owner_id: int, train_job_id: int, request: ExportRequest) -> Job:
        """Validate, then queue an export job (kind "export", parent = the train job)."""
        train = self.jobs.get(train_job_id, owner_id)
        if train.kind != JobKind.TRAIN or not train.method:
            raise InvalidInput(f"Job {train_job_id} is a {train.kind} job; only training jobs export.")
        mode = request.mode or default_mode(train.method)
        check_mode(train.method, mode)
        source, label = pick_source(train, request.checkpoint_step)
        base = (train.config or {}).get("base_model") or {}
        if not base.get("path"):
            raise Conflict(f"Job {train_job_id} does not record its base model; it cannot be exported.")
        out_name = f"job-{train.id}-{label}-{mode}-{request.dtype}-{secrets.token_hex(3)}"
        config: dict[str, Any] = {
            "checkpoint_path": str(source),
            "base_model": {
                "path": base["path"],
                "gguf_file": base.get("gguf_file"),
                "trust_remote_code": bool(base.get("trust_remote_code")),
            },
            "method": train.method,
            "mode": mode,
            "dtype": request.dtype,
            "output_dir": str(get_settings().models_dir / "exports" / out_name),
        }
        name = request.name or f"{train.name or f'job {train.id}'} {mode} {request.dtype}"
        if label != FINAL_DIR:
            name = request.name or f"{name} {label}"
        return self.jobs.create_job(
            train.owner_id,  # an admin exporting a member's job makes the member's export
            kind=JobKind.EXPORT,
            config=config,
            name=name[:200],
            base_model_id=train.base_model_id,
            parent_job_id=train.id,
            queue=train.queue,
        )

    def list_for_job(self, owner_id: int, train_job_id: int) -> list[JobRead]:
        """The export jobs of one train job, newest first."""
        self.jobs.get(train_job_id, owner_id)  # 404 for unknown or foreign jobs
        query = (
            select(Job)
            .where(owned_by(Job, owner_id), Job.kind == JobKind.EXPORT, Job.parent_job_id == train_job_id)
            .options(selectinload(Job.checkpoints))
            .order_by(Job.id.desc())
        )
        return [build_job_read(job) for job in self.session.scalars(query)]

    def get_export(self, owner_id: int, export_job_id: int) -> Job:
        job = self.jobs.get(export_job_id, owner_id)
        if job.kind != JobKind.EXPORT:
            raise NotFound(f"Job {export_job_id} is not an export.")
        return job

    def export_folder(self, owner_id: int, export_job_id: int) -> Path:
        """The folder a succeeded export wrote; only ever one inside the data directory."""
        job = self.get_export(owner_id, export_job_id)
        if job.status != JobStatus.SUCCEEDED:
            raise Conflict(
                f"Export {export_job_id} is {job.status}; only a succeeded export can be downloaded."
            )
        raw = str((job.config or {}).get("output_dir") or "")
        folder = Path(raw)
        if not raw or not inside(folder, get_settings().resolved_data_dir):
            raise Conflict(f"Export {export_job_id} wrote outside the data directory; it is not served.")
        if not folder.is_dir():
            raise NotFound(f"The files of export {export_job_id} are gone from {folder}.")
        return folder.resolve()
