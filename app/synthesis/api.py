"""REST API of synthetic data generation. Registered before the datasets router, whose
/api/v1/datasets/{dataset_id} would otherwise take /api/v1/datasets/synthesize."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.deps import CurrentUser, SessionDep
from app.jobs.progress import build_job_read
from app.jobs.schemas import JobRead
from app.synthesis.repository import SynthesisRepository
from app.synthesis.schemas import (
    PreviewRead,
    PreviewRequest,
    ResumeSynthesis,
    SecretRead,
    SynthesisRead,
    SynthesizeRequest,
    TemplateFields,
    TemplateRead,
)
from app.synthesis.service import SynthesisService

router = APIRouter(prefix="/api/v1", tags=["synthesis"])


@router.post("/datasets/synthesize", status_code=status.HTTP_202_ACCEPTED, response_model=JobRead)
def synthesize(request: SynthesizeRequest, session: SessionDep, user: CurrentUser) -> JobRead:
    """Generate conversations through an OpenAI-compatible endpoint, as a job; they land as a new dataset
    version through the upload's quality gate. Follow it at GET /api/v1/datasets/synthesize/{job_id}."""
    return build_job_read(SynthesisService(session).create(user, request))


@router.post("/datasets/synthesize/preview", response_model=PreviewRead)
def preview(request: PreviewRequest, session: SessionDep, user: CurrentUser) -> PreviewRead:
    """The first rendered prompt and (call=true) one real call with its parsed conversations."""
    return SynthesisService(session).preview(user, request)


@router.get("/datasets/synthesize", response_model=list[SynthesisRead])
def list_runs(session: SessionDep, user: CurrentUser) -> list[SynthesisRead]:
    return SynthesisService(session).list(user)


@router.get("/datasets/synthesize/{job_id}", response_model=SynthesisRead)
def get_run(job_id: int, session: SessionDep, user: CurrentUser) -> SynthesisRead:
    """Progress (rows, requests, tokens, cost, retries), unparsed examples, and the landed version."""
    return SynthesisService(session).read(user, job_id)


@router.post(
    "/datasets/synthesize/{job_id}/resume", status_code=status.HTTP_202_ACCEPTED, response_model=JobRead
)
def resume(job_id: int, request: ResumeSynthesis, session: SessionDep, user: CurrentUser) -> JobRead:
    """A new job that starts from what a cancelled, failed or interrupted run had generated."""
    return build_job_read(SynthesisService(session).resume(user, job_id, request))


@router.get("/synthesis/templates", response_model=list[TemplateRead])
def list_templates(session: SessionDep, user: CurrentUser) -> list[TemplateRead]:
    return [
        TemplateRead.model_validate(t) for t in SynthesisRepository(session).templates(user.scope_owner_id)
    ]


@router.post("/synthesis/templates", status_code=status.HTTP_201_CREATED, response_model=TemplateRead)
def create_template(fields: TemplateFields, session: SessionDep, user: CurrentUser) -> TemplateRead:
    return TemplateRead.model_validate(SynthesisService(session).save_template(user, fields))


@router.get("/synthesis/templates/{template_id}", response_model=TemplateRead)
def get_template(template_id: int, session: SessionDep, user: CurrentUser) -> TemplateRead:
    return TemplateRead.model_validate(SynthesisService(session).get_template(user, template_id))


@router.put("/synthesis/templates/{template_id}", response_model=TemplateRead)
def update_template(
    template_id: int, fields: TemplateFields, session: SessionDep, user: CurrentUser
) -> TemplateRead:
    return TemplateRead.model_validate(SynthesisService(session).save_template(user, fields, template_id))


@router.delete("/synthesis/templates/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_template(template_id: int, session: SessionDep, user: CurrentUser) -> None:
    SynthesisService(session).delete_template(user, template_id)


@router.get("/synthesis/secrets", response_model=list[SecretRead])
def list_secrets(session: SessionDep, user: CurrentUser) -> list[SecretRead]:
    """Saved endpoint keys: what they are for and their last 4 characters, never the key."""
    return [SecretRead.model_validate(s) for s in SynthesisRepository(session).secrets(user.scope_owner_id)]


@router.delete("/synthesis/secrets/{secret_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_secret(secret_id: int, session: SessionDep, user: CurrentUser) -> None:
    SynthesisService(session).delete_secret(user, secret_id)
