"""Uploads become immutable, normalised dataset versions. Either the version is complete (files and row)
or nothing of it remains: files are written to a temporary folder and renamed into place last."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from app.datasets.ingest import (
    IngestError,
    IngestOptions,
    content_hash,
    ingest_file,
    safe_filename,
    split_rows,
    write_jsonl_atomic,
)
from app.datasets.repository import DatasetRepository
from app.datasets.schemas import DatasetRead, DatasetVersionRead, UploadOptions
from app.errors import Conflict, InvalidInput, NotFound, TooLarge
from app.models import Dataset, DatasetStatus, DatasetVersion
from app.settings import get_settings

CHUNK = 1024 * 1024


def save_upload(stream: BinaryIO, target: Path, max_bytes: int) -> int:
    """Streams an upload to disk, stopping (and deleting) as soon as it passes the limit."""
    written = 0
    try:
        with target.open("wb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise TooLarge(
                        f"The file is larger than the upload limit of {max_bytes:,} bytes.", field="file"
                    )
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return written


class DatasetService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.datasets = DatasetRepository(session)
        self.settings = get_settings()

    def list(self, owner_id: int) -> list[DatasetRead]:
        return [to_read(d) for d in self.datasets.list(owner_id)]

    def get(self, owner_id: int, dataset_id: int) -> Dataset:
        dataset = self.datasets.get(owner_id, dataset_id)
        if dataset is None:
            raise NotFound(f"Dataset {dataset_id} does not exist.")
        return dataset

    def upload(self, owner_id: int, stream: BinaryIO, filename: str, options: UploadOptions) -> Dataset:
        try:
            clean_name = safe_filename(filename)
        except IngestError as exc:
            raise InvalidInput(str(exc), field="file") from exc
        self.settings.ensure_dirs()
        temp = self.settings.uploads_dir / f"{uuid.uuid4().hex}-{clean_name}"
        try:
            save_upload(stream, temp, self.settings.max_upload_bytes)
            return self._create_from_file(owner_id, temp, clean_name, options)
        finally:
            temp.unlink(missing_ok=True)

    def create_from_path(self, owner_id: int, path: Path, options: UploadOptions) -> Dataset:
        """For files already on the server (the demo dataset, the CLI on the same machine)."""
        return self._create_from_file(owner_id, path, path.name, options)

    def _create_from_file(self, owner_id: int, path: Path, filename: str, options: UploadOptions) -> Dataset:
        ingest_options = IngestOptions(
            max_bytes=self.settings.max_upload_bytes,
            format=options.format,
            mapping=options.mapping,
            on_invalid=options.on_invalid,
            near_dup_threshold=options.near_dup_threshold,
            dedup=options.dedup,
        )
        try:
            rows, report = ingest_file(path, original_filename=filename, options=ingest_options)
        except IngestError as exc:
            raise InvalidInput(str(exc), field=getattr(exc, "field", None) or "file") from exc
        if not rows:
            raise InvalidInput("No usable conversation is left in the file after validation.", field="file")
        train, val = split_rows(
            rows, val_set_size=options.val_set_size, val_set_rate=options.val_set_rate, seed=options.seed
        )
        dataset = Dataset(
            owner_id=owner_id, name=options.name or Path(filename).stem, status=DatasetStatus.READY
        )
        self.datasets.add(dataset)
        report_json = report_to_json(report)
        version = DatasetVersion(
            dataset_id=dataset.id,
            version=1,
            content_hash=content_hash(rows),
            path="",
            original_filename=filename,
            file_type=report.file_type,
            format=report.format,
            encoding=report.encoding,
            num_rows=len(rows),
            num_invalid=report.num_invalid,
            num_train=len(train),
            num_val=len(val),
            split={
                "val_set_size": options.val_set_size,
                "val_set_rate": options.val_set_rate,
                "seed": options.seed,
            },
            report=report_json,
        )
        dataset.versions.append(version)
        self._write_version_files(dataset.id, version, train, val)
        try:
            self.session.commit()
        except BaseException:
            self.session.rollback()
            shutil.rmtree(self.settings.resolved_data_dir / version.path, ignore_errors=True)
            raise
        return dataset

    def _write_version_files(
        self, dataset_id: int, version: DatasetVersion, train: list[dict], val: list[dict]
    ) -> None:
        relative = Path("datasets") / str(dataset_id) / f"v{version.version}"
        final = self.settings.resolved_data_dir / relative
        staging = final.with_name(final.name + f".tmp-{uuid.uuid4().hex[:8]}")
        staging.mkdir(parents=True)
        try:
            write_jsonl_atomic(train, staging / "train.jsonl")
            write_jsonl_atomic(val, staging / "val.jsonl")
            if final.exists():
                raise Conflict(f"Storage for {relative} already exists; refusing to overwrite a version.")
            staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        version.path = str(relative)

    def delete(self, owner_id: int, dataset_id: int) -> None:
        dataset = self.get(owner_id, dataset_id)
        if self.datasets.used_by_jobs(dataset):
            raise Conflict(f"Dataset {dataset_id} was used by a job, so it can only be archived.")
        folder = self.settings.resolved_data_dir / "datasets" / str(dataset.id)
        self.session.delete(dataset)
        self.session.commit()
        shutil.rmtree(folder, ignore_errors=True)

    def set_archived(self, owner_id: int, dataset_id: int, archived: bool) -> Dataset:
        dataset = self.get(owner_id, dataset_id)
        dataset.archived = archived
        self.session.commit()
        return dataset


def report_to_json(report: object) -> dict:
    from dataclasses import asdict, is_dataclass

    data = asdict(report) if is_dataclass(report) else dict(report)  # type: ignore[arg-type]
    return data


def to_read(dataset: Dataset) -> DatasetRead:
    latest = dataset.latest_version
    report = latest.report if latest else {}
    duplicates = report.get("duplicates") or {}
    return DatasetRead(
        id=dataset.id,
        name=dataset.name,
        status=dataset.status,
        archived=dataset.archived,
        version=latest.version if latest else None,
        version_id=latest.id if latest else None,
        format=latest.format if latest else None,
        encoding=latest.encoding if latest else None,
        num_rows=latest.num_rows if latest else 0,
        num_invalid=latest.num_invalid if latest else 0,
        num_train=latest.num_train if latest else 0,
        num_val=latest.num_val if latest else 0,
        duplicates={
            "exact": duplicates.get("exact", 0),
            "near": duplicates.get("near", 0),
            "examples": duplicates.get("examples", [])[:10],
        },
        problems=list(report.get("problems") or [])[:200],
        stats=report.get("stats") or {},
        versions=[DatasetVersionRead.model_validate(v) for v in dataset.versions],
        created_at=dataset.created_at,
    )
