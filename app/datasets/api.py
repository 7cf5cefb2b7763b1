from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, UploadFile, status
from pydantic import ValidationError

from app.datasets.schemas import DatasetRead, UploadOptions
from app.datasets.service import DatasetService, to_read
from app.deps import CurrentUserId, SessionDep
from app.errors import InvalidInput

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])


def parse_upload_options(**fields: object) -> UploadOptions:
    values = {k: v for k, v in fields.items() if v not in (None, "")}
    try:
        return UploadOptions(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "options"
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from exc


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DatasetRead)
def upload_dataset(
    session: SessionDep,
    owner_id: CurrentUserId,
    file: UploadFile,
    name: Annotated[str | None, Form()] = None,
    format: Annotated[str | None, Form()] = None,
    on_invalid: Annotated[str | None, Form()] = None,
    dedup: Annotated[str | None, Form()] = None,
    val_set_size: Annotated[int | None, Form()] = None,
    val_set_rate: Annotated[float | None, Form()] = None,
    seed: Annotated[int | None, Form()] = None,
) -> DatasetRead:
    options = parse_upload_options(
        name=name,
        format=format,
        on_invalid=on_invalid,
        dedup=dedup,
        val_set_size=val_set_size,
        val_set_rate=val_set_rate,
        seed=seed,
    )
    dataset = DatasetService(session).upload(owner_id, file.file, file.filename or "", options)
    return to_read(dataset)


@router.get("", response_model=list[DatasetRead])
def list_datasets(session: SessionDep, owner_id: CurrentUserId) -> list[DatasetRead]:
    return DatasetService(session).list(owner_id)


@router.get("/{dataset_id}", response_model=DatasetRead)
def get_dataset(dataset_id: int, session: SessionDep, owner_id: CurrentUserId) -> DatasetRead:
    return to_read(DatasetService(session).get(owner_id, dataset_id))


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(dataset_id: int, session: SessionDep, owner_id: CurrentUserId) -> None:
    DatasetService(session).delete(owner_id, dataset_id)


@router.post("/{dataset_id}/archive", response_model=DatasetRead)
def archive_dataset(dataset_id: int, session: SessionDep, owner_id: CurrentUserId) -> DatasetRead:
    return to_read(DatasetService(session).set_archived(owner_id, dataset_id, True))
