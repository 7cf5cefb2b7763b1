"""`method: "auto"`: the method a user who does not choose one gets (issue #12, point 6).

Full fine-tuning when the model is small and a full fine-tune of the same configuration fits the device
(the planner's own fit test, same margin); LoRA otherwise. Why, measured (benchmarks/results/quality.json,
2026-11-30, idle 2-core CPU, 20 minutes of training each, 200 held-out CPsyCoun first replies): the studio's
child on the demo model (SmolLM2-135M) scored BLEU-4 12.3 / ROUGE-L 31.3 as a full fine-tune against 4.8 /
22.4 with LoRA r16 on all linear layers (difference +7.5 [+6.3, +8.8] BLEU-4, paired bootstrap); a bare
full fine-tune beat a bare LoRA script likewise (22.7 vs 7.1). A LoRA step was not even cheaper on that CPU
(10.5 s vs 8.9 s at bf16): the whole backward pass runs either way, so the rank limit costs without saving.

The 1B boundary is a judgement, not a measurement: only 135M was measured. Above it a full fine-tune's
optimizer state (16 bytes per parameter, ZeRO paper) outgrows most single GPUs and LoRA is what LLaMA-Factory,
ms-swift and AutoTrain default to.

PURE: the planner's pydantic models only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.jobs.hyperparameters import AUTO_METHOD

from .architecture import ModelShape
from .core import plan
from .deepspeed import request_from_hyperparameters
from .schemas import PlanRequest

SMALL_MODEL_MAX_PARAMS = 1_000_000_000
GIB = 2**30


# Why auto chose, as sentence templates with values: stored with the job in English, shown translated
# (app/plans/i18n_zh.py has each template's Chinese).
ABOVE_1B = "{millions}M parameters: above 1B a user who does not choose gets LoRA"
FULL_DOES_NOT_FIT = {
    "cpu": "a full fine-tune of this {millions}M-parameter model needs {peak} GiB, {capacity} GiB of host "
    "RAM available: LoRA",
    "gpu": "a full fine-tune of this {millions}M-parameter model needs {peak} GiB, {capacity} GiB per GPU "
    "available: LoRA",
}
FULL_FITS = {
    "cpu": "{millions}M parameters and a full fine-tune fits ({peak} of {capacity} GiB of host RAM): "
    "small models learn more per minute fully fine-tuned than with LoRA (benchmarks/quality.py)",
    "gpu": "{millions}M parameters and a full fine-tune fits ({peak} of {capacity} GiB per GPU): "
    "small models learn more per minute fully fine-tuned than with LoRA (benchmarks/quality.py)",
}
SIZE_UNREADABLE = "the model's size could not be read ({error}): LoRA"  # said by app/plans/auto_method.py
NOTE = "auto: {method}, because {reason}"


@dataclass(frozen=True)
class MethodChoice:
    method: str
    template: str
    values: dict[str, str]

    @property
    def reason(self) -> str:
        return self.template.format(**self.values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "asked": AUTO_METHOD, "method": self.method, "reason": self.reason,
            "reason_template": self.template, "reason_values": self.values,
        }  # fmt: skip

    def note_with(self, translate: Callable[[str], str]) -> str:
        """The note in the language ``translate`` gives (a page's t())."""
        reason = translate(self.template).format(**self.values)
        return translate(NOTE).format(method=self.method, reason=reason)

    @property
    def note(self) -> str:
        """The plan note every surface (plans API, CLI, form panel) shows first."""
        return self.note_with(lambda text: text)


def choose_method_for(
    model: str, hp: Any, shape: ModelShape, *, gpu: str, device: str, **extra: Any
) -> MethodChoice:
    """choose_method for a job's hyperparameters (TrainHyperparameters or its dict) on ``device``."""
    request, _notes = request_from_hyperparameters(model, hp, method="full", gpu=gpu, device=device, **extra)
    return choose_method(request, shape)


def choose_method(request: PlanRequest, shape: ModelShape) -> MethodChoice:
    """full or lora for ``request`` (its method is ignored; everything else is planned as given)."""
    millions = f"{shape.num_params / 1e6:,.0f}"
    if shape.num_params > SMALL_MODEL_MAX_PARAMS:
        return MethodChoice("lora", ABOVE_1B, {"millions": millions})
    full = plan(request.model_copy(update={"method": "full"}), shape=shape, with_recommendations=False)
    values = {
        "millions": millions,
        "peak": f"{full.per_gpu.peak_bytes / GIB:.1f}",
        "capacity": f"{full.per_gpu.capacity_bytes / GIB:.1f}",
    }
    device = "cpu" if request.device == "cpu" else "gpu"
    if not full.fits:
        return MethodChoice("lora", FULL_DOES_NOT_FIT[device], values)
    return MethodChoice("full", FULL_FITS[device], values)
