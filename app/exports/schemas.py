"""The export request, and which export modes each training method can produce (PURE: no torch)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ExportMode = Literal["merged", "adapter"]
ExportDtype = Literal["fp32", "fp16", "bf16"]

# What worker/training/export.py can write for each method (its _check_request): the LoRA family and IA3
# fold into the base weights or stay an adapter; prompt learning and bottleneck adapters add parameters that
# cannot be folded (virtual tokens, non-linear layers), so adapter only; full and freeze checkpoints already
# are whole models. tests/exports checks this table against the engine, so the two cannot drift apart.
EXPORT_MODES: dict[str, tuple[str, ...]] = {
    "lora": ("merged", "adapter"),
    "qlora": ("merged", "adapter"),
    "ia3": ("merged", "adapter"),
    "ptuning": ("adapter",),
    "prefix": ("adapter",),
    "prompt": ("adapter",),
    "adapter": ("adapter",),
    "freeze": ("merged",),
    "full": ("merged",),
}

MODE_REASONS: dict[str, str] = {
    "ptuning": "P-tuning learns virtual tokens, not weight changes, so it cannot be merged into the base",
    "prefix": "prefix tuning learns key/value prefixes, not weight changes, so it cannot be merged",
    "prompt": "prompt tuning learns virtual tokens, not weight changes, so it cannot be merged into the base",
    "adapter": "bottleneck adapters add non-linear layers that cannot be folded into the base weights",
    "freeze": "a freeze-tuning checkpoint is a whole model, not an adapter",
    "full": "a full fine-tuning checkpoint is a whole model, not an adapter",
}


def default_mode(method: str) -> str:
    """Merged when the method can merge (a model that loads alone), otherwise the adapter."""
    return EXPORT_MODES.get(method, ("merged",))[0]


class ExportRequest(BaseModel):
    """The body of POST /api/v1/jobs/{id}/export."""

    model_config = ConfigDict(extra="forbid")

    mode: ExportMode | None = Field(
        default=None,
        description="merged: the adapter folded into the base weights (loads alone); adapter: only the "
        "trained parameters (loads on top of the base). Default: merged when the method allows it.",
    )
    dtype: ExportDtype = Field(default="fp32", description="Data type of the saved weights.")
    checkpoint_step: int | None = Field(
        default=None, ge=0, description="Export this checkpoint; default: the final model, else the newest."
    )
    name: str | None = Field(
        default=None, max_length=200, description="Name of the exported model in the catalog."
    )
