"""worker/hooks/export.py against the real database: what a finished export leaves in the catalog."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.db import session_scope
from app.models import LOCAL_USER_ID, Job, JobKind, JobStatus
from tests.spine.studio import Studio
from worker.hooks.export import ExportRecordError, register_export


def _export_job(studio: Studio, tiny_model_dir: Path, name: str, kind: str = "model") -> int:
    """An export job row whose output folder looks like the export child left it."""
    with session_scope() as session:
        job = Job(owner_id=LOCAL_USER_ID, kind=JobKind.EXPORT, status=JobStatus.RUNNING, name=name, config={})
        session.add(job)
        session.flush()
        out = studio.data_dir / "models" / "exports" / f"hook-test-{job.id}"
        out.mkdir(parents=True)
        if kind == "model":
            shutil.copy(tiny_model_dir / "config.json", out / "config.json")
            shutil.copy(tiny_model_dir / "model.safetensors", out / "model.safetensors")
        else:
            (out / "adapter_config.json").write_text("{}")
        record = {"kind": kind, "method": "lora", "mode": "merged" if kind == "model" else "adapter"}
        (out / "export.json").write_text(
            json.dumps({**record, "dtype": "fp32", "files": [], "size_bytes": 1})
        )
        job.config = {"output_dir": str(out)}
        return job.id


def _run_hook(job_id: int) -> dict:
    with session_scope() as session:
        job = session.get(Job, job_id)
        register_export(session, job, Path("/nonexistent-run-dir"))
        return dict(job.result)


def test_a_merged_export_becomes_a_catalog_model_once(
    client: TestClient, studio: Studio, tiny_model_dir: Path
) -> None:
    job_id = _export_job(studio, tiny_model_dir, "Hook Model")
    result = _run_hook(job_id)
    assert result["model_id"] == "hook-model" and result["export"]["kind"] == "model"
    model = {m["id"]: m for m in client.get("/api/v1/models").json()}["hook-model"]
    assert model["source"] == "export" and model["created_by_job_id"] == job_id
    assert (
        model["architecture"] == json.loads((tiny_model_dir / "config.json").read_text())["architectures"][0]
    )
    # A retried hook finds its own model instead of registering a second one.
    assert _run_hook(job_id)["model_id"] == "hook-model"
    assert sum(m["created_by_job_id"] == job_id for m in client.get("/api/v1/models").json()) == 1
    # Another export with the same name gets its own id.
    other = _export_job(studio, tiny_model_dir, "Hook Model")
    assert _run_hook(other)["model_id"] == f"hook-model-job{other}"


def test_an_adapter_export_is_recorded_but_not_a_catalog_model(
    client: TestClient, studio: Studio, tiny_model_dir: Path
) -> None:
    job_id = _export_job(studio, tiny_model_dir, "Hook Adapter", kind="adapter")
    result = _run_hook(job_id)
    assert result["model_id"] is None and result["export"]["mode"] == "adapter"
    assert all(m["created_by_job_id"] != job_id for m in client.get("/api/v1/models").json())


def test_a_missing_export_record_fails_the_hook_with_a_reason(studio: Studio, tiny_model_dir: Path) -> None:
    job_id = _export_job(studio, tiny_model_dir, "Hook Broken")
    with session_scope() as session:
        out = Path(session.get(Job, job_id).config["output_dir"])
    (out / "export.json").unlink()
    with pytest.raises(ExportRecordError, match="export.json"):
        _run_hook(job_id)
    (out / "export.json").write_text('{"kind": "gguf"}')
    with pytest.raises(ExportRecordError, match="kind"):
        _run_hook(job_id)
