"""POST /ui/plans/breakdown: the new fine-tune form's planner panel (htmx swaps it in on every change).

Reads the form's own fields through the form's own parser (so it plans what a submit would train) plus the
panel's `plan_gpu` ("cpu" or a card; default: what the registered workers have) / `plan_flash_attention`
inputs, and renders templates/plans/_breakdown.html: a stacked bar of where each GiB goes, a fits badge and
recommendation buttons that fill only what they change (never the method).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.db import get_session
from app.errors import StudioError
from app.i18n import translate
from app.jobs.form import parse_hyperparameters
from app.jobs.service import validate_hyperparameters
from app.planner import GPUS, request_from_hyperparameters, to_hyperparameters
from app.plans.api import resolve_shape, run_plan
from app.plans.auto_method import AUTO_METHOD, resolve_auto_method
from app.plans.devices import default_plan_target, studio_devices
from app.web_templates import templates

router = APIRouter(tags=["plans"], include_in_schema=False)

GIB = 2**30
# Distinct, colour-blind-friendly hues (Okabe-Ito) for the bar segments, in breakdown order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"]


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


def _fills(result, method: str) -> tuple[list[dict[str, object]], list[str]]:  # noqa: ANN001 - PlanResult
    """Recommendation buttons for the user's own method, each filling only what it changes (never the
    method); recommendations of another method become notes, so a click never switches the method."""
    asked = to_hyperparameters(result.request)
    buttons: list[dict[str, object]] = []
    others: list[str] = []
    for rec in result.recommendations:
        if rec.method != method:
            others.append(f"{rec.method} would also fit: {rec.reason}")
            continue
        values = to_hyperparameters(rec)
        fill = {k: v for k, v in values.items() if k != "method" and v != asked.get(k)}
        buttons.append({"rec": rec, "fill": json.dumps(fill)})
    return buttons, others


@router.post("/ui/plans/breakdown", response_class=HTMLResponse)
async def breakdown(request: Request, session: Session = Depends(get_session)) -> HTMLResponse:
    form = {k: str(v) for k, v in (await request.form()).items()}
    devices = studio_devices(session)
    target = form.get("plan_gpu") or default_plan_target(devices, list(GPUS))
    on_cpu = target == "cpu"
    flash = form.get("plan_flash_attention", "").lower() in ("on", "true", "1")
    context: dict[str, object] = {
        "gpus": list(GPUS), "gpu": target, "flash": flash, "error": None, "cpu_only": devices.cpu_only,
    }  # fmt: skip
    method = form.get("method") or "lora"
    choice_notes: list[str] = []
    try:
        # The form's own parser: the plan reads exactly the hyperparameters a submit of this form sends.
        values = parse_hyperparameters(form)
        model = form.get("base_model", "").strip()
        if not model:
            raise StudioError("choose a base model to see the memory plan", field="base_model")
        resolve_shape(session, model)  # 404 / 422 with a message before planning
        if method == AUTO_METHOD:  # plan what a submit would train: the same resolution as the job's
            device = "cpu" if on_cpu else "gpu"
            gpu = "A100-80GB" if on_cpu else target
            full = validate_hyperparameters("full", values, gpu_available=not on_cpu)
            choice = resolve_auto_method(session, model, full, device=device, gpu=gpu)
            method = choice.method
            choice_notes.append(choice.note_with(translate))  # the page's language
        hp = validate_hyperparameters(method, values, gpu_available=not on_cpu)
        req, notes = request_from_hyperparameters(
            model,
            hp,
            method=method,
            gpu="A100-80GB" if on_cpu else target,
            device="cpu" if on_cpu else "gpu",
            flash_attention=flash,
        )
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
    buttons, others = _fills(result, method)
    context.update(
        result=result,
        notes=[*choice_notes, *notes, *result.notes, *others],
        segments=_segments(pg.breakdown, scale),
        peak_gib=pg.peak_bytes / GIB,
        capacity_gib=pg.capacity_bytes / GIB,
        recommendations=buttons,
    )
    return templates.TemplateResponse(request, "plans/_breakdown.html", context)
