"""Uploads become immutable, normalised dataset versions. Either the version is complete (files and row)
or nothing of it remains: files are written to a temporary folder and renamed into place last."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from app.datasets.ingest import (
    IngestError,
    IngestOptions,
    IngestReport,
    content_hash,
    ingest_file,
    safe_filename,
    split_rows,
)
from app.datasets.repository import DatasetRepository
from app.datasets.schemas import DatasetRead, DatasetVersionRead, UploadOptions
from app.datasets.storage import remove_version_folder, write_version_files
from app.errors import Conflict, InvalidInput, NotFound, TooLarge
from app.models import Dataset, DatasetStatus, DatasetVersion, Job, JobStatus
from app.settings import get_settings
from app.users.quotas import check_storage_quota

CHUNK = 1024 * 1024
MAX_PROBLEMS_SHOWN = 200


class RejectedFile(InvalidInput):
    """A 422 that also carries the row-level problems (row, field, reason) that made the file fail."""

    def __init__(self, message: str, *, field: str | None, problems: list[dict[str, Any]]) -> None:
        super().__init__(message, field=field)
        self.problems = problems

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), "problems": self.problems}


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


def clean_dataset_name(name: str) -> str:
    """A dataset name people can read and pick in a list: no control or invisible format characters, not
    blank; surrounding spaces are dropped. (Names never become paths: folders are named by id.)"""
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in name):
        raise InvalidInput("name: must not contain control or invisible characters.", field="name")
    cleaned = name.strip()
    if not cleaned:
        raise InvalidInput("name: must not be blank.", field="name")
    return cleaned


def split_settings(options: UploadOptions) -> dict[str, Any]:
    return {"val_set_size": options.val_set_size, "val_set_rate": options.val_set_rate, "seed": options.seed}


def do_split(rows: list[dict], settings: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    try:
        return split_rows(
            rows,
            val_set_size=settings.get("val_set_size"),
            val_set_rate=settings.get("val_set_rate") or None,
            seed=int(settings.get("seed", 42)),
        )
    except IngestError as exc:
        raise InvalidInput(str(exc), field=exc.field or "val_set_size") from exc


class DatasetService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.datasets = DatasetRepository(session)
        self.settings = get_settings()

    def list(self, owner_id: int) -> list[DatasetRead]:
        datasets = self.datasets.list(owner_id)
        for dataset in datasets:
            if dataset.status == DatasetStatus.ANALYSING:  # one query only where a job may have ended
                self._settle_status(dataset)
        return [to_read(d) for d in datasets]

    def get(self, owner_id: int, dataset_id: int) -> Dataset:
        dataset = self.datasets.get(owner_id, dataset_id)
        if dataset is None:
            raise NotFound(f"Dataset {dataset_id} does not exist.")
        return dataset

    def read(self, owner_id: int, dataset_id: int) -> DatasetRead:
        """The dataset JSON with the latest version's analysis job (status, progress, results)."""
        dataset = self.get(owner_id, dataset_id)
        job = self._settle_status(dataset)
        return to_read(dataset, analysis_job=job, used=self.datasets.used_by_jobs(dataset))

    def get_version(self, owner_id: int, dataset_id: int, version: int | None) -> DatasetVersion:
        found = self.datasets.resolve_version(owner_id, dataset_id, version)
        if found is None:
            what = f"Version {version} of dataset" if version else "Dataset"
            raise NotFound(f"{what} {dataset_id} does not exist.")
        return found

    def _settle_status(self, dataset: Dataset) -> Job | None:
        """An analysis that failed or was cancelled never reaches the success hook: the dataset goes back
        to ready here (the job keeps its error, shown on the page)."""
        latest = dataset.latest_version
        job = self.datasets.latest_analysis_job(latest.id) if latest else None
        ended = job is None or (JobStatus(job.status).is_final and job.status != JobStatus.SUCCEEDED)
        if dataset.status == DatasetStatus.ANALYSING and ended:
            dataset.status = DatasetStatus.READY
            self.session.commit()
        return job

    def upload(self, owner_id: int, stream: BinaryIO, filename: str, options: UploadOptions) -> Dataset:
        try:
            clean_name = safe_filename(filename)
        except IngestError as exc:
            raise InvalidInput(str(exc), field="file") from exc
        name = clean_dataset_name(options.name) if options.name is not None else None
        if name is not None:
            options = options.model_copy(update={"name": name})
        self.settings.ensure_dirs()
        # The temporary name is ours alone: a user's 255-byte name plus a prefix is past the file-system
        # limit (a 500), and a user's name never joins a server path.
        suffix = Path(clean_name).suffix.lower()  # readers (openpyxl) go by it
        suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ".upload"
        temp = self.settings.uploads_dir / f"{uuid.uuid4().hex}{suffix}"
        try:
            save_upload(stream, temp, self.settings.max_upload_bytes)
            return self._create_from_file(owner_id, temp, clean_name, options)
        finally:
            temp.unlink(missing_ok=True)

    def create_from_path(self, owner_id: int, path: Path, options: UploadOptions) -> Dataset:
        """For files already on the server (the demo dataset, the CLI on the same machine)."""
        return self._create_from_file(owner_id, path, path.name, options)

    def _create_from_file(self, owner_id: int, path: Path, filename: str, options: UploadOptions) -> Dataset:
        check_storage_quota(self.session, owner_id, path.stat().st_size)
        ingest_options = IngestOptions(
            max_bytes=self.settings.max_upload_bytes,
            format=options.format,
            mapping=options.mapping,
            on_invalid=options.on_invalid,
            max_chars=options.max_chars,
            near_dup_threshold=options.near_dup_threshold,
            dedup=options.dedup,
            max_row_chars=self.settings.max_row_chars,
            max_rows=self.settings.max_upload_rows,
            max_xlsx_rows=self.settings.max_xlsx_rows,
            inline_near_dup_rows=self.settings.inline_near_dup_rows,
        )
        try:
            rows, report = ingest_file(path, original_filename=filename, options=ingest_options)
        except RecursionError:  # a structure nested past the interpreter's limit, wherever it was met
            raise InvalidInput("The file is nested too deeply to be a dataset.", field="file") from None
        except IngestError as exc:
            if exc.field == "max_bytes":
                raise TooLarge(str(exc), field="file") from exc
            problems = [asdict(p) for p in exc.problems[:MAX_PROBLEMS_SHOWN]]
            raise RejectedFile(str(exc), field=exc.field or "file", problems=problems) from exc
        if not rows:
            raise InvalidInput("No usable conversation is left in the file after validation.", field="file")
        split = split_settings(options)
        train, val = do_split(rows, split)
        name = clean_dataset_name(options.name) if options.name else Path(filename).stem
        dataset = Dataset(owner_id=owner_id, name=name[:200], status=DatasetStatus.READY)
        self.datasets.add(dataset)
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
            split={**split, "near_dup_threshold": options.near_dup_threshold},
            report=report_to_json(report, options),
        )
        dataset.versions.append(version)
        version.path = write_version_files(dataset.id, 1, rows, train, val)
        try:
            self.session.commit()
        except BaseException:
            self.session.rollback()
            remove_version_folder(version.path)
            raise
        return dataset

    def delete(self, owner_id: int, dataset_id: int) -> None:
        dataset = self.get(owner_id, dataset_id)
        if self.datasets.used_by_jobs(dataset):
            raise Conflict(
                f"Dataset {dataset_id} was used by a job, so it can only be archived.", field="dataset_id"
            )
        # Analysis jobs only read a version: they stay in the job history without the link.
        version_ids = [v.id for v in dataset.versions]
        for job in self.session.query(Job).filter(Job.dataset_version_id.in_(version_ids)):
            job.dataset_version_id = None
        # Versions point at their parents; unlink them first so the rows can go in any order.
        for version in dataset.versions:
            version.parent_version_id = None
        self.session.flush()
        folder = self.settings.resolved_data_dir / "datasets" / str(dataset.id)
        self.session.delete(dataset)
        self.session.commit()
        remove_version_folder(str(folder.relative_to(self.settings.resolved_data_dir)))

    def set_archived(self, owner_id: int, dataset_id: int, archived: bool) -> Dataset:
        dataset = self.get(owner_id, dataset_id)
        dataset.archived = archived
        self.session.commit()
        return dataset


def report_to_json(report: IngestReport, options: UploadOptions | None = None) -> dict[str, Any]:
    data = asdict(report)
    if options is not None:
        data["options"] = options.model_dump(exclude={"name"})
    return data


def analysis_summary(version: DatasetVersion | None, job: Job | None) -> dict[str, Any] | None:
    """The analysis job's state (status, progress) and, once it succeeded, its stored results."""
    stored = (version.report or {}).get("analysis") if version else None
    if job is None and not stored:
        return None
    summary: dict[str, Any] = {"result": stored}
    if job is not None:
        percent = None
        if job.total_steps:
            done = job.total_steps if job.status == JobStatus.SUCCEEDED else job.step
            percent = round(min(100.0, 100.0 * done / job.total_steps), 1)
        summary.update(
            job_id=job.id,
            status=job.status,
            percent=percent,
            error=job.error,
            model=(job.config or {}).get("model_id"),
            max_seq_length=(job.config or {}).get("max_seq_length"),
        )
    return summary


def to_read(dataset: Dataset, *, analysis_job: Job | None = None, used: bool = False) -> DatasetRead:
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
            "threshold": duplicates.get("threshold"),
            # False for large uploads: their near-duplicates are searched by the analysis job.
            "near_searched": duplicates.get("near_searched", True),
            "exact_ids": list(duplicates.get("exact_ids") or [])[:1000],
            "near_ids": list(duplicates.get("near_ids") or [])[:1000],
            "examples": duplicates.get("examples", [])[:20],
        },
        problems=list(report.get("problems") or [])[:MAX_PROBLEMS_SHOWN],
        notes=list(report.get("notes") or []),
        stats=report.get("stats") or {},
        flagged=list((report.get("review") or {}).get("flagged") or []),
        analysis=analysis_summary(latest, analysis_job),
        used_by_jobs=used,
        versions=[DatasetVersionRead.model_validate(v) for v in dataset.versions],
        created_at=dataset.created_at,
    )
