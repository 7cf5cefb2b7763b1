"""JSON API of exports: start one from a train job, list them, download the exported folder as a zip."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse

from app.deps import CurrentUser, SessionDep
from app.exports.schemas import ExportRequest
from app.exports.service import ExportService
from app.exports.zipstream import stream_zip
from app.jobs.progress import build_job_read
from app.jobs.schemas import JobRead

router = APIRouter(tags=["exports"])


@router.post("/api/v1/jobs/{job_id}/export", status_code=status.HTTP_201_CREATED, response_model=JobRead)
def export_job(job_id: int, request: ExportRequest, session: SessionDep, user: CurrentUser) -> JobRead:
    """Queue an export of a train job: 422 (naming the field) for a mode the method cannot produce or an
    unknown checkpoint, 409 when the job has nothing to export yet. On success the export job's
    ``result.model_id`` names the new catalog model (merged exports)."""
    job = ExportService(session).create(user.scope_owner_id, job_id, request)
    return build_job_read(job)


@router.get("/api/v1/jobs/{job_id}/exports", response_model=list[JobRead])
def list_exports(job_id: int, session: SessionDep, user: CurrentUser) -> list[JobRead]:
    return ExportService(session).list_for_job(user.scope_owner_id, job_id)


@router.get("/api/v1/exports/{export_job_id}", response_model=JobRead)
def get_export(export_job_id: int, session: SessionDep, user: CurrentUser) -> JobRead:
    return build_job_read(ExportService(session).get_export(user.scope_owner_id, export_job_id))


@router.get("/api/v1/exports/{export_job_id}/download")
def download_export(export_job_id: int, session: SessionDep, user: CurrentUser) -> StreamingResponse:
    """The exported folder as a zip (weights stored uncompressed, streamed while it is built)."""
    folder = ExportService(session).export_folder(user.scope_owner_id, export_job_id)
    name = f"ftstudio-export-{export_job_id}"
    return StreamingResponse(
        stream_zip(folder, name),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
    )
