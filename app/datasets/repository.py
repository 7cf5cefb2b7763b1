from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import Dataset, DatasetVersion, Job, JobKind
from app.models.base import owned_by


class DatasetRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def list(self, owner_id: int | None, *, include_archived: bool = True) -> list[Dataset]:
        query = (
            select(Dataset)
            .where(owned_by(Dataset, owner_id))
            .options(selectinload(Dataset.versions))
            .order_by(Dataset.id.desc())
        )
        if not include_archived:
            query = query.where(Dataset.archived.is_(False))
        return list(self.session.scalars(query))

    def get(self, owner_id: int | None, dataset_id: int) -> Dataset | None:
        query = (
            select(Dataset)
            .where(Dataset.id == dataset_id, owned_by(Dataset, owner_id))
            .options(selectinload(Dataset.versions))
        )
        return self.session.scalars(query).first()

    def find_by_name(self, owner_id: int | None, name: str) -> Dataset | None:
        query = select(Dataset).where(owned_by(Dataset, owner_id), Dataset.name == name)
        return self.session.scalars(query).first()

    def resolve_version(
        self, owner_id: int | None, dataset_id: int, version: int | None
    ) -> DatasetVersion | None:
        dataset = self.get(owner_id, dataset_id)
        if dataset is None or not dataset.versions:
            return None
        if version is None:
            return dataset.latest_version
        return next((v for v in dataset.versions if v.version == version), None)

    def get_version(self, version_id: int) -> DatasetVersion | None:
        return self.session.get(DatasetVersion, version_id)

    def used_by_jobs(self, dataset: Dataset) -> bool:
        version_ids = [v.id for v in dataset.versions]
        if not version_ids:
            return False
        # An analysis job only read the version; any other job (training, evaluation) pins it.
        query = (
            select(Job.id)
            .where(Job.dataset_version_id.in_(version_ids), Job.kind != JobKind.DATASET_ANALYSIS)
            .limit(1)
        )
        return self.session.scalars(query).first() is not None

    def jobs_using(self, dataset: Dataset, *, limit: int = 20) -> list[Job]:
        """Training (and other) jobs that named one of this dataset's versions, newest first."""
        version_ids = [v.id for v in dataset.versions]
        if not version_ids:
            return []
        query = (
            select(Job)
            .where(Job.dataset_version_id.in_(version_ids), Job.kind != JobKind.DATASET_ANALYSIS)
            .order_by(Job.id.desc())
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def latest_analysis_job(self, version_id: int) -> Job | None:
        query = (
            select(Job)
            .where(Job.dataset_version_id == version_id, Job.kind == JobKind.DATASET_ANALYSIS)
            .order_by(Job.id.desc())
            .limit(1)
        )
        return self.session.scalars(query).first()

    def add(self, dataset: Dataset) -> Dataset:
        self.session.add(dataset)
        self.session.flush()
        return dataset
