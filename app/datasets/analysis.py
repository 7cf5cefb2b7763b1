"""Starting the analysis job of a dataset version (token lengths with a base model's tokenizer,
near-duplicates, train/validation overlap, loss previews). The work runs on the worker
(worker.datasets.analyse); its success hook stores the results on the version."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.catalog.service import CatalogService
from app.datasets.schemas import AnalyseRequest
from app.datasets.service import DatasetService
from app.datasets.storage import version_folder
from app.errors import Conflict, InvalidInput
from app.jobs.service import JobService
from app.models import DatasetStatus, Job, JobKind, JobStatus


class AnalysisService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.service = DatasetService(session)

    def start(self, owner_id: int, dataset_id: int, request: AnalyseRequest) -> Job:
        dataset = self.service.get(owner_id, dataset_id)
        version = self.service.get_version(owner_id, dataset_id, request.version)
        model = CatalogService(self.session).get(request.model)
        running = self.service.datasets.latest_analysis_job(version.id)
        if running is not None and not JobStatus(running.status).is_final:
            raise Conflict(
                f"Version {version.version} is already being analysed (job {running.id}).", field="version"
            )
        if model.gguf_file:
            raise InvalidInput(
                f"Model '{model.id}' is a GGUF file; choose a model folder with a tokenizer.", field="model"
            )
        folder = version_folder(version)
        rows_path = folder / "rows.jsonl"
        config = {
            "model_id": model.id,
            "base_model": {"path": model.path, "trust_remote_code": model.trust_remote_code},
            "dataset": {
                "id": dataset.id,
                "version": version.version,
                "version_id": version.id,
                "rows_path": str(rows_path) if rows_path.is_file() else None,
                "train_path": str(folder / "train.jsonl"),
                "val_path": str(folder / "val.jsonl"),
            },
            "max_seq_length": request.max_seq_length,
            "near_dup_threshold": request.near_dup_threshold,
            "bins": request.bins,
            "preview_row_ids": request.preview_row_ids,
        }
        dataset.status = DatasetStatus.ANALYSING
        return JobService(self.session).create_job(
            dataset.owner_id,  # an admin analysing a member's dataset: the job is the member's
            kind=JobKind.DATASET_ANALYSIS,
            config=config,
            name=f"analyse {dataset.name} v{version.version} with {model.id}",
            base_model_id=model.id,
            dataset_version_id=version.id,
        )
