from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, UploadFile, status
from pydantic import ValidationError

from app.datasets.analysis import AnalysisService
from app.datasets.review import ReviewService
from app.datasets.schemas import (
    AnalyseRequest,
    DatasetRead,
    DatasetVersionDetail,
    DatasetVersionRead,
    FlagRequest,
    NewVersionRequest,
    RowsPage,
    TokenPreview,
    UploadOptions,
)
from app.datasets.service import DatasetService, analysis_summary, to_read
from app.datasets.token_preview import token_preview
from app.datasets.versions import VersionService
from app.deps import CurrentUser, SessionDep
from app.errors import InvalidInput
from app.jobs.progress import build_job_read
from app.jobs.schemas import JobRead

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])


def parse_mapping(text: object) -> dict[str, str] | None:
    """The column mapping arrives as JSON text in a form: {"prompt": "问题", "response": "回答"}."""
    if text in (None, "") or isinstance(text, dict):
        return text or None  # type: ignore[return-value]
    try:
        value = json.loads(str(text))
    except ValueError:
        raise InvalidInput('mapping must be a JSON object like {"prompt": "问题"}', field="mapping") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInput("mapping must map field names to column names (strings)", field="mapping")
    return {str(k): v for k, v in value.items() if v} or None


def parse_upload_options(**fields: object) -> UploadOptions:
    values = {k: v for k, v in fields.items() if v not in (None, "")}
    if "mapping" in values:
        values["mapping"] = parse_mapping(values["mapping"])
    try:
        return UploadOptions(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "options"
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from exc


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DatasetRead)
def upload_dataset(
    session: SessionDep,
    user: CurrentUser,
    file: UploadFile,
    name: Annotated[str | None, Form()] = None,
    format: Annotated[str | None, Form()] = None,
    on_invalid: Annotated[str | None, Form()] = None,
    dedup: Annotated[str | None, Form()] = None,
    near_dup_threshold: Annotated[float | None, Form()] = None,
    max_chars: Annotated[int | None, Form()] = None,
    mapping: Annotated[str | None, Form(description='JSON, e.g. {"prompt": "问题"}')] = None,
    val_set_size: Annotated[int | None, Form()] = None,
    val_set_rate: Annotated[float | None, Form()] = None,
    seed: Annotated[int | None, Form()] = None,
) -> DatasetRead:
    options = parse_upload_options(
        name=name,
        format=format,
        on_invalid=on_invalid,
        dedup=dedup,
        near_dup_threshold=near_dup_threshold,
        max_chars=max_chars,
        mapping=mapping,
        val_set_size=val_set_size,
        val_set_rate=val_set_rate,
        seed=seed,
    )
    dataset = DatasetService(session).upload(user.user_id, file.file, file.filename or "", options)
    return to_read(dataset)


@router.get("", response_model=list[DatasetRead])
def list_datasets(session: SessionDep, user: CurrentUser) -> list[DatasetRead]:
    return DatasetService(session).list(user.scope_owner_id)


@router.get("/{dataset_id}", response_model=DatasetRead)
def get_dataset(dataset_id: int, session: SessionDep, user: CurrentUser) -> DatasetRead:
    return DatasetService(session).read(user.scope_owner_id, dataset_id)


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(dataset_id: int, session: SessionDep, user: CurrentUser) -> None:
    DatasetService(session).delete(user.scope_owner_id, dataset_id)


@router.post("/{dataset_id}/archive", response_model=DatasetRead)
def archive_dataset(dataset_id: int, session: SessionDep, user: CurrentUser) -> DatasetRead:
    return to_read(DatasetService(session).set_archived(user.scope_owner_id, dataset_id, True))


@router.post("/{dataset_id}/unarchive", response_model=DatasetRead)
def unarchive_dataset(dataset_id: int, session: SessionDep, user: CurrentUser) -> DatasetRead:
    return to_read(DatasetService(session).set_archived(user.scope_owner_id, dataset_id, False))


@router.get("/{dataset_id}/versions", response_model=list[DatasetVersionRead])
def list_versions(dataset_id: int, session: SessionDep, user: CurrentUser) -> list[DatasetVersionRead]:
    dataset = DatasetService(session).get(user.scope_owner_id, dataset_id)
    return [DatasetVersionRead.model_validate(v) for v in dataset.versions]


@router.post("/{dataset_id}/versions", status_code=status.HTTP_201_CREATED, response_model=DatasetVersionRead)
def create_version(
    dataset_id: int, request: NewVersionRequest, session: SessionDep, user: CurrentUser
) -> DatasetVersionRead:
    return DatasetVersionRead.model_validate(
        VersionService(session).create_version(user.scope_owner_id, dataset_id, request)
    )


@router.get("/{dataset_id}/versions/{version}", response_model=DatasetVersionDetail)
def get_version(
    dataset_id: int, version: int, session: SessionDep, user: CurrentUser
) -> DatasetVersionDetail:
    return DatasetVersionDetail.model_validate(
        DatasetService(session).get_version(user.scope_owner_id, dataset_id, version)
    )


@router.get("/{dataset_id}/rows", response_model=RowsPage)
def list_rows(
    dataset_id: int,
    session: SessionDep,
    user: CurrentUser,
    version: Annotated[int | None, Query(ge=1)] = None,
    split: str = "train",
    q: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 20,
) -> RowsPage:
    return ReviewService(session).rows_page(
        user.scope_owner_id, dataset_id, version=version, split=split, q=q, page=page, page_size=page_size
    )


@router.post("/{dataset_id}/flags")
def flag_rows(
    dataset_id: int, request: FlagRequest, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    return {"flagged": ReviewService(session).set_flags(user.scope_owner_id, dataset_id, request)}


@router.get("/{dataset_id}/rows/{row_id}/tokens", response_model=TokenPreview)
def row_tokens(
    dataset_id: int,
    row_id: str,
    model: str,
    session: SessionDep,
    user: CurrentUser,
    version: Annotated[int | None, Query(ge=1)] = None,
    max_seq_length: Annotated[int | None, Query(ge=2)] = None,
) -> TokenPreview:
    return token_preview(
        session, user.scope_owner_id, dataset_id, row_id,
        model_id=model, version=version, max_seq_length=max_seq_length,
    )


@router.post("/{dataset_id}/analyse", status_code=status.HTTP_202_ACCEPTED, response_model=JobRead)
def analyse_dataset(
    dataset_id: int, request: AnalyseRequest, session: SessionDep, user: CurrentUser
) -> JobRead:
    return build_job_read(AnalysisService(session).start(user.scope_owner_id, dataset_id, request))


@router.get("/{dataset_id}/analysis")
def get_analysis(
    dataset_id: int,
    session: SessionDep,
    user: CurrentUser,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    service = DatasetService(session)
    found = service.get_version(user.scope_owner_id, dataset_id, version)
    summary = analysis_summary(found, service.datasets.latest_analysis_job(found.id))
    return {"version": found.version, "analysis": summary}
