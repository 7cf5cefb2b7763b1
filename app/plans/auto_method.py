"""Resolving `method: "auto"` for a job body (POST /api/v1/jobs, the form, its plan panel, the plans API):
the catalog model's shape plus the hyperparameters, planned for the devices that will train, through
app/planner/method_choice.choose_method. Every caller gets the same answer for the same inputs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.errors import StudioError
from app.jobs.hyperparameters import TrainHyperparameters
from app.planner import GPUS
from app.planner.method_choice import AUTO_METHOD, SIZE_UNREADABLE, MethodChoice, choose_method_for
from app.plans.api import resolve_shape
from app.plans.devices import StudioDevices, default_plan_target

__all__ = ["AUTO_METHOD", "MethodChoice", "resolve_auto_method", "target_of"]


def target_of(devices: StudioDevices) -> tuple[str, str]:
    """(device, gpu) to plan for: the CPU profile on a CPU-only studio, else the workers' card."""
    target = default_plan_target(devices, list(GPUS))
    return ("cpu", "A100-80GB") if target == "cpu" else ("gpu", target)


def resolve_auto_method(
    session: Session, model: str, hp: TrainHyperparameters, *, device: str, gpu: str
) -> MethodChoice:
    """The method "auto" stands for with this model and these (validated) hyperparameters on this device. A
    model whose size cannot be read (a hub id without network) gets LoRA, which fits wherever full does."""
    try:
        return choose_method_for(model, hp, resolve_shape(session, model), gpu=gpu, device=device)
    except (StudioError, ValueError) as exc:
        reason = getattr(exc, "message", str(exc))
        return MethodChoice("lora", SIZE_UNREADABLE, {"error": reason})
