"""POST /api/v1/plans: the planner for one configuration; `model` may be a catalog id, a hub id or a path."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from app.db import get_session
from app.errors import InvalidInput, NotFound
from app.jobs.hyperparameters import AUTO_METHOD
from app.planner import (
    ModelShape,
    PlanRequest,
    PlanResult,
    load_model_shape,
    plan,
    request_from_hyperparameters,
)

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


class JobPlanRequest(BaseModel):
    """Plan a job exactly as POST /api/v1/jobs would train it: its method and hyperparameters, unchanged."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="catalog id, known hub id, model folder or config.json path")
    method: str = Field("lora", description='a method, or "auto" (full for small models when it fits)')
    hyperparameters: dict[str, Any] = Field(description="as in POST /api/v1/jobs (TrainHyperparameters)")
    device: Literal["gpu", "cpu"] = "gpu"
    gpu: str = "A100-80GB"
    gpu_memory_gib: float | None = Field(None, gt=0)
    gpu_tflops: float | None = Field(None, gt=0)
    num_nodes: int = Field(1, ge=1, le=1024)
    flash_attention: bool = False
    train_tokens: int | None = Field(None, ge=1)


def plan_request_of_job(body: JobPlanRequest) -> PlanRequest:
    """The planner's request for a job body; bad hyperparameters are a 422 naming the field, as for jobs."""
    from app.jobs.service import validate_hyperparameters

    hp = validate_hyperparameters(body.method, body.hyperparameters, gpu_available=body.device == "gpu")
    extra = body.model_dump(
        include={"gpu_memory_gib", "gpu_tflops", "num_nodes", "flash_attention", "train_tokens"}
    )
    try:
        request, _notes = request_from_hyperparameters(
            body.model, hp, method=body.method, gpu=body.gpu, device=body.device, **extra
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from exc
    except ValueError as exc:
        raise InvalidInput(str(exc), field=str(exc).split(":", 1)[0] if ":" in str(exc) else None) from exc
    return request


def _validated(model: type[BaseModel], payload: dict[str, Any]) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"{field}: {message}" if field else message, field=field) from exc


@router.post(
    "",
    response_model=PlanResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [JobPlanRequest.model_json_schema(), PlanRequest.model_json_schema()]}
                }
            },
        }
    },
)
def create_plan(payload: dict[str, Any] = Body(...), session: Session = Depends(get_session)) -> PlanResult:
    """Peak memory per GPU with its breakdown, host RAM, fit, time, recommendations, DeepSpeed config.

    The body is either a job's `model` + `method` + `hyperparameters` (exactly what POST /api/v1/jobs takes;
    JobPlanRequest) or the planner's own flat request (PlanRequest, the `ftstudio plan` flags)."""
    if "hyperparameters" in payload:
        body = _validated(JobPlanRequest, payload)
        if body.method == AUTO_METHOD:  # planned as the job would resolve it, for the body's device
            from app.jobs.service import validate_hyperparameters
            from app.plans.auto_method import resolve_auto_method

            full = validate_hyperparameters("full", body.hyperparameters, gpu_available=body.device == "gpu")
            choice = resolve_auto_method(session, body.model, full, device=body.device, gpu=body.gpu)
            body = body.model_copy(update={"method": choice.method})
            result = run_plan(session, plan_request_of_job(body))
            result.notes.insert(0, choice.note)
            return result
        request = plan_request_of_job(body)
    else:
        request = _validated(PlanRequest, payload)
    return run_plan(session, request)
