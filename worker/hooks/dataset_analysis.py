"""Success hook of a dataset_analysis job: the child's analysis.json goes onto the version's report, and
the dataset is ready again. Runs inside the supervisor's transaction (worker/job_kinds.py)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session

from app.models import DatasetStatus, DatasetVersion, Job, utcnow

RESULT_FILE = "analysis.json"  # written by worker.datasets.analyse


def save_analysis(session: Session, job: Job, run_dir: Path) -> None:
    path = Path(run_dir) / RESULT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"the analysis child left no {RESULT_FILE} in {run_dir}")
    result = json.loads(path.read_text(encoding="utf-8"))
    version = session.get(DatasetVersion, job.dataset_version_id) if job.dataset_version_id else None
    if version is None:
        return  # the dataset was deleted while it was analysed: nothing to attach the results to
    result.update(job_id=job.id, finished_at=utcnow().isoformat())
    # A new dict, not an in-place change: SQLAlchemy's JSON type only notices reassignment.
    version.report = {**(version.report or {}), "analysis": result}
    version.dataset.status = DatasetStatus.READY
