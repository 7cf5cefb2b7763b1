"""POST /api/v1/plans: the planner for one configuration; `model` may be a catalog id, a hub id or a path."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.db import get_session
from app.errors import InvalidInput, NotFound
from app.planner import ModelShape, PlanRequest, PlanResult, load_model_shape, plan

router = APIRouter(prefix="/api/v1/plans", tags=["plans"])


def resolve_shape(session: Session, model: str) -> ModelShape:
    """Catalog id -> its folder or hub id -> ModelShape; a path or known hub id works directly.
    Raises NotFound (404) for a model neither the catalog nor the planner knows."""
    source = model
    try:
        from app.catalog.service import resolve_model_source
    except ImportError:  # the catalog is optional for the planner
        resolve_model_source = None
    if resolve_model_source is not None:
        source = resolve_model_source(session, model) or model
    try:
        return load_model_shape(source)
    except FileNotFoundError as exc:
        raise NotFound(str(exc), field="model") from exc
    except ValueError as exc:
        raise InvalidInput(str(exc), field="model") from exc


def run_plan(session: Session, request: PlanRequest) -> PlanResult:
    shape = resolve_shape(session, request.model)
    try:
        return plan(request, shape=shape)
    except ValueError as exc:
        # planner messages start with the field they are about ("lora_targets: ...", "gpu: ...")
        message = str(exc)
        field = message.split(":", 1)[0] if ":" in message else None
        raise InvalidInput(message, field=field if field in PlanRequest.model_fields else None) from exc


@router.post("", response_model=PlanResult)
def create_plan(request: PlanRequest, session: Session = Depends(get_session)) -> PlanResult:
    """Peak memory per GPU with its breakdown, host RAM, fit, time, recommendations, DeepSpeed config."""
    return run_plan(session, request)
