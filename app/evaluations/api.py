"""JSON API of the scorecard. Fixed paths (compare, leaderboard) come before /{evaluation_id}."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from app.deps import CurrentUser, SessionDep
from app.evaluations.schemas import (
    CompareRequest,
    CompareStarted,
    Comparison,
    EvaluationCreate,
    EvaluationRead,
    LeaderboardRow,
)
from app.evaluations.service import EvaluationService

router = APIRouter(tags=["evaluations"])


@router.post("/api/v1/evaluations", status_code=status.HTTP_201_CREATED, response_model=EvaluationRead)
def create_evaluation(
    request: EvaluationCreate, session: SessionDep, user: CurrentUser
) -> EvaluationRead:
    service = EvaluationService(session)
    job = service.create(user.user_id, request)
    return service.read(job.id, user.scope_owner_id)


@router.get("/api/v1/evaluations", response_model=list[EvaluationRead])
def list_evaluations(
    session: SessionDep, user: CurrentUser, job_id: int | None = None
) -> list[EvaluationRead]:
    """All evaluations, newest first; ``job_id`` keeps those of one train job's fine-tune."""
    return EvaluationService(session).list(user.scope_owner_id, parent_job_id=job_id)


@router.get("/api/v1/evaluations/compare", response_model=Comparison)
def compare_evaluations(
    session: SessionDep,
    user: CurrentUser,
    base: int = Query(description="The base model's evaluation id."),
    tuned: int = Query(description="The fine-tune's evaluation id."),
    confidence: float = Query(0.95, gt=0.5, lt=1),
) -> Comparison:
    return EvaluationService(session).comparison(user.scope_owner_id, base, tuned, confidence=confidence)


@router.get("/api/v1/evaluations/leaderboard", response_model=list[LeaderboardRow])
def leaderboard(session: SessionDep, user: CurrentUser) -> list[LeaderboardRow]:
    return EvaluationService(session).leaderboard(user.scope_owner_id)


@router.get("/api/v1/evaluations/{evaluation_id}", response_model=EvaluationRead)
def get_evaluation(evaluation_id: int, session: SessionDep, user: CurrentUser) -> EvaluationRead:
    return EvaluationService(session).read(evaluation_id, user.scope_owner_id)


@router.post(
    "/api/v1/jobs/{job_id}/compare", status_code=status.HTTP_201_CREATED, response_model=CompareStarted
)
def compare_with_base(
    job_id: int, request: CompareRequest, session: SessionDep, user: CurrentUser
) -> CompareStarted:
    """One click on a fine-tuned job: evaluate the base model and the fine-tune on the same suite. An
    identical earlier evaluation is reused (``cached`` says which side)."""
    service = EvaluationService(session)
    base, tuned, cached = service.compare_with_base(user.scope_owner_id, job_id, request.suite)
    return CompareStarted(
        base=service.read(base.id, user.scope_owner_id),
        tuned=service.read(tuned.id, user.scope_owner_id),
        cached=cached,
        compare_url=f"/evaluations/compare?base={base.id}&tuned={tuned.id}",
    )
