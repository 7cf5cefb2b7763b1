"""POST /ui/plans/breakdown: the new fine-tune form's planner panel (htmx swaps it in on every change).

Reads the form's own fields (FT Studio hyperparameter names, `base_model`, `method`) plus the panel's
`plan_gpu` / `plan_flash_attention` inputs, and renders templates/plans/_breakdown.html: a stacked bar of
where each GiB goes, a fits / does-not-fit badge and recommendation buttons that fill the form.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.db import get_session
from app.errors import StudioError
from app.planner import GPUS, request_from_hyperparameters, to_hyperparameters
from app.plans.api import resolve_shape, run_plan
from app.web_templates import templates

router = APIRouter(tags=["plans"], include_in_schema=False)

GIB = 2**30
# Distinct, colour-blind-friendly hues (Okabe-Ito) for the bar segments, in breakdown order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"]
_BOOL_FIELDS = ("gradient_checkpointing", "double_quant", "offload_optimizer", "offload_params")
_INT_FIELDS = (
    "per_device_train_batch_size", "gradient_accumulation_steps", "max_seq_length", "lora_r", "quant_bits",
    "num_processes", "num_virtual_tokens", "encoder_hidden_size", "adapter_bottleneck_size",
    "freeze_trainable_layers",
)  # fmt: skip


def _hyperparameters(form: dict[str, str]) -> dict[str, object]:
    """Form strings -> typed hyperparameters; unchecked checkboxes are absent from the form (False)."""
    hp: dict[str, object] = {"method": form.get("method", "lora")}
    for name in _BOOL_FIELDS:
        hp[name] = form.get(name, "").lower() in ("on", "true", "1", "yes")
    for name in _INT_FIELDS:
        if form.get(name, "").strip():
            hp[name] = int(float(form[name]))
    for name in ("precision", "optim", "lora_target_modules", "zero_stage"):
        if name in form:
            hp[name] = form[name].strip()
    if form.get("lora_dropout", "").strip():
        hp["lora_dropout"] = float(form["lora_dropout"])
    return hp


def _segments(breakdown: dict[str, int], scale: int) -> list[dict[str, object]]:
    items = sorted(breakdown.items(), key=lambda kv: -kv[1])
    return [
        {
            "term": term,
            "gib": nbytes / GIB,
            "pct": 100.0 * nbytes / scale if scale else 0.0,
            "color": PALETTE[i % len(PALETTE)],
        }
        for i, (term, nbytes) in enumerate(items)
    ]


@router.post("/ui/plans/breakdown", response_class=HTMLResponse)
async def breakdown(request: Request, session: Session = Depends(get_session)) -> HTMLResponse:
    form = {k: str(v) for k, v in (await request.form()).items()}
    gpu = form.get("plan_gpu") or "A100-80GB"
    flash = form.get("plan_flash_attention", "").lower() in ("on", "true", "1")
    context: dict[str, object] = {"gpus": list(GPUS), "gpu": gpu, "flash": flash, "error": None}
    try:
        hp = _hyperparameters(form)
        model = form.get("base_model", "").strip()
        if not model:
            raise StudioError("choose a base model to see the memory plan", field="base_model")
        resolve_shape(session, model)  # 404 / 422 with a message before planning
        req, notes = request_from_hyperparameters(model, hp, gpu=gpu, flash_attention=flash)
        result = run_plan(session, req)
    except (StudioError, ValidationError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            message = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        else:
            message = getattr(exc, "message", str(exc))
        context["error"] = message
        return templates.TemplateResponse(request, "plans/_breakdown.html", context)
    pg = result.per_gpu
    scale = max(pg.capacity_bytes, pg.peak_bytes)
    context.update(
        result=result,
        notes=[*notes, *result.notes],
        segments=_segments(pg.breakdown, scale),
        peak_gib=pg.peak_bytes / GIB,
        capacity_gib=pg.capacity_bytes / GIB,
        recommendations=[
            {"rec": rec, "fill": json.dumps(to_hyperparameters(rec))} for rec in result.recommendations
        ],
    )
    return templates.TemplateResponse(request, "plans/_breakdown.html", context)
