"""Pages: the playground (chat, side by side) and the deployments list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.catalog.service import CatalogService
from app.datasets.service import DatasetService
from app.deps import CurrentUser, SessionDep
from app.jobs.repository import JobRepository
from app.serving.service import DeploymentService
from app.views_common import render
from worker.evaluation.generation import PRESETS, GenerationSettings

router = APIRouter(include_in_schema=False)


def _sources(session: SessionDep, user: Any) -> list[dict[str, Any]]:
    """Everything one can chat with: catalog models (exports included), each training job's final model
    and checkpoints, and the live deployments."""
    sources: list[dict[str, Any]] = []
    for model in CatalogService(session).list():
        group = "Exports" if model.source == "export" else "Models"
        sources.append({"group": group, "label": model.name, "open": {"model_id": model.id}})
    for job in JobRepository(session).list(user.scope_owner_id, kind="train", limit=50):
        label = f"#{job.id} {job.name or job.method or ''}".strip()
        if job.status == "succeeded":
            sources.append({"group": "Jobs", "label": f"{label} · final", "open": {"job_id": job.id}})
        for c in reversed([c for c in job.checkpoints if not c.deleted]):
            name = Path(c.path).name
            sources.append(
                {
                    "group": "Jobs",
                    "label": f"{label} · {name}",
                    "open": {"job_id": job.id, "checkpoint": name},
                }
            )
    for dep in DeploymentService(session).list(user, active_only=True):
        sources.append(
            {
                "group": "Deployments",
                "label": f"{dep.name} ({dep.served_model_name})",
                "open": {"deployment_id": dep.id},
            }
        )
    for s in sources:
        s["value"] = json.dumps(s["open"], sort_keys=True)
    return sources


def _fields() -> list[dict[str, Any]]:
    """Every GenerationSettings field with its default, for the settings form."""
    fields = []
    for name, info in GenerationSettings.model_fields.items():
        kind = "bool" if info.annotation is bool else "float" if info.annotation is float else "int"
        fields.append({"name": name, "kind": kind, "default": info.default})
    return fields


@router.get("/playground", response_class=HTMLResponse)
def playground(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    job_id: int | None = None,
    deployment_id: int | None = None,
    model_id: str | None = None,
) -> HTMLResponse:
    preselect: list[dict[str, Any]] = []
    notice = None
    if job_id is not None:
        job = JobRepository(session).get(job_id, user.scope_owner_id)
        if job is not None:
            # Opened from a job: its base on the left, the fine-tune on the right.
            final = {"job_id": job.id}
            if job.status != "succeeded":
                alive = [c for c in job.checkpoints if not c.deleted]
                final = {"job_id": job.id, "checkpoint": Path(alive[-1].path).name} if alive else final
            preselect = [{"model_id": job.base_model_id}, final]
    elif deployment_id is not None:
        dep = DeploymentService(session).get(user, deployment_id)
        preselect, notice = [{"deployment_id": dep.id}], dep.safety_notice
    elif model_id is not None:
        preselect = [{"model_id": model_id}]
    return render(
        request,
        "playground/index.html",
        sources=_sources(session, user),
        preselect=[json.dumps(p, sort_keys=True) for p in preselect],
        fields=_fields(),
        presets=PRESETS,
        presets_json=json.dumps(PRESETS),
        datasets=[d for d in DatasetService(session).list(user.user_id) if not d.archived],
        safety_notice=notice,
    )


@router.get("/deployments", response_class=HTMLResponse)
def deployments_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    return render(
        request,
        "deployments/index.html",
        deployments=DeploymentService(session).list(user),
        sources=_sources(session, user),
        datasets=[d for d in DatasetService(session).list(user.user_id) if not d.archived],
    )
