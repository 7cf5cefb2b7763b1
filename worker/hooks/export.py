"""Success hook of an export job: a merged export becomes a catalog model (source "export") that can be
evaluated, served or fine-tuned again; an adapter export is recorded on the job for download.

Runs inside the supervisor's transaction (worker/job_kinds.py SUCCESS_HOOKS); raising fails the job with the
message, so a missing or malformed export.json never leaves a job "succeeded" without its model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.catalog.repository import ModelRepository
from app.catalog.schemas import ModelRegister
from app.catalog.service import CatalogService, slugify
from app.models import Job, ModelSource

EXPORT_FILE = "export.json"  # written by worker.training.export next to the weights
MAX_ID = 120  # ModelRegister.id: ^[a-z0-9][a-z0-9._-]{0,119}$


class ExportRecordError(ValueError):
    """The export child succeeded but its folder is not what it promised; the message says what."""


def read_export_record(output_dir: Path) -> dict[str, Any]:
    path = output_dir / EXPORT_FILE
    if not path.is_file():
        raise ExportRecordError(f"the export finished without writing {EXPORT_FILE} in {output_dir}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ExportRecordError(f"{EXPORT_FILE} is not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict) or record.get("kind") not in ("model", "adapter"):
        raise ExportRecordError(f"{EXPORT_FILE} must say kind 'model' or 'adapter'")
    return record


def model_id_for(session: Session, job: Job) -> str:
    """A readable, unused catalog id: the export's name as a slug, with the job id when it is taken."""
    base = slugify(job.name or f"export-{job.id}")
    if not base[0].isalnum():
        base = f"export-{base}"
    base = base[:MAX_ID]
    repository = ModelRepository(session)
    if repository.get(base) is None:
        return base
    suffix = f"-job{job.id}"
    return f"{base[: MAX_ID - len(suffix)]}{suffix}"


def register_export(session: Session, job: Job, run_dir: Path) -> None:
    """Catalog entry for a merged export; ``job.result`` gets ``model_id`` (None for an adapter) + the record.

    Idempotent: a retried hook finds the model this job already registered instead of adding a second."""
    output_dir = Path(str((job.config or {}).get("output_dir") or ""))
    if not output_dir.is_dir():
        raise ExportRecordError(f"the export folder {output_dir} does not exist")
    record = read_export_record(output_dir)
    model_id: str | None = None
    if record["kind"] == "model":
        existing = [m for m in ModelRepository(session).list() if m.created_by_job_id == job.id]
        if existing:
            model_id = existing[0].id
        else:
            # register() commits: the model row is durable even if the job row update below were lost,
            # and a retry then finds it through created_by_job_id.
            model = CatalogService(session).register(
                job.owner_id,
                ModelRegister(path=str(output_dir), name=job.name, id=model_id_for(session, job)),
                source=ModelSource.EXPORT,
                created_by_job_id=job.id,
            )
            model_id = model.id
    # An adapter folder has no config.json, so it is not a catalog model: it loads on top of its base
    # (record["base_model"]) and is offered as a download.
    summary = {
        k: record.get(k) for k in ("kind", "method", "mode", "dtype", "files", "size_bytes", "tokenizer")
    }
    job.result = {
        **(job.result or {}),
        "model_id": model_id,
        "export": summary,
        "output_dir": str(output_dir),
    }
