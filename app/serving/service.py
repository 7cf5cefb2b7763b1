"""Rules of deployments: what can be deployed (resolved to folders here, so the worker needs no catalog
logic), undeploy, API keys (only a hash is kept), and the lookup the /v1 endpoints make per request."""

from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path

from sqlalchemy.orm import Session

from app.catalog.service import CatalogService, slugify
from app.datasets.repository import DatasetRepository
from app.deps import Principal
from app.errors import Conflict, InvalidInput, NotFound, StudioError
from app.jobs.repository import JobRepository
from app.models import Deployment, DeploymentKey, DeploymentStatus, Job, JobKind, utcnow
from app.serving.repository import DeploymentRepository
from app.serving.schemas import DeploymentCreate, DeploymentUpdate
from app.settings import get_settings

KEY_PREFIX = "fts-"
CHECKPOINT = re.compile(r"^checkpoint-\d+$")


class Unauthorized(StudioError):
    status_code = 401


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def job_model_folder(job: Job, checkpoint: str | None) -> Path:
    """The final model of a training job, or one of its checkpoints by folder name."""
    if job.kind != JobKind.TRAIN:
        raise InvalidInput(f"Job {job.id} is a {job.kind} job; deploy a training job.", field="job_id")
    run_dir = Path(job.run_dir) if job.run_dir else None
    if run_dir is None:
        raise Conflict(f"Job {job.id} has not run yet; nothing to deploy.", field="job_id")
    if checkpoint is not None:
        if not CHECKPOINT.match(checkpoint):
            raise InvalidInput("checkpoint: give a folder name like 'checkpoint-50'.", field="checkpoint")
        match = [c for c in job.checkpoints if Path(c.path).name == checkpoint and not c.deleted]
        folder = run_dir / match[0].path if match else None
        if folder is None or not folder.is_dir():
            alive = ", ".join(Path(c.path).name for c in job.checkpoints if not c.deleted) or "none"
            raise InvalidInput(
                f"checkpoint: job {job.id} has no '{checkpoint}' on disk (checkpoints: {alive}).",
                field="checkpoint",
            )
        return folder
    output = (job.result or {}).get("output_path") or "final"
    folder = run_dir / output
    if job.status != "succeeded" or not folder.is_dir():
        raise Conflict(
            f"Job {job.id} is {job.status} and has no final model; deploy one of its checkpoints.",
            field="job_id",
        )
    return folder


class DeploymentService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repo = DeploymentRepository(session)

    def get(self, user: Principal, deployment_id: int) -> Deployment:
        dep = self.repo.get(deployment_id, user.scope_owner_id)
        if dep is None:
            raise NotFound(f"Deployment {deployment_id} does not exist.")
        return dep

    def list(self, user: Principal, *, active_only: bool = False) -> list[Deployment]:
        return self.repo.list(user.scope_owner_id, active_only=active_only)

    def create(self, user: Principal, request: DeploymentCreate) -> Deployment:
        dep = Deployment(
            owner_id=user.user_id,
            status=DeploymentStatus.LOADING,
            queue=request.queue or get_settings().default_queue,
            system_prompt=request.system_prompt,
            safety_notice=request.safety_notice,
            faq_threshold=request.faq_threshold,
            served_model_name=f"pending-{secrets.token_hex(6)}",
        )
        if request.model_id is not None:
            model = CatalogService(self.session).get(request.model_id)
            dep.model_id, dep.name = model.id, model.name
            dep.base_path, dep.gguf_file = model.path, model.gguf_file
            dep.trust_remote_code = model.trust_remote_code
            label = model.id
        else:
            job = JobRepository(self.session).get(request.job_id, user.scope_owner_id)  # type: ignore[arg-type]
            if job is None:
                raise NotFound(f"Job {request.job_id} does not exist.", field="job_id")
            folder = job_model_folder(job, request.checkpoint)
            base = job.config.get("base_model") or {}
            dep.job_id, dep.checkpoint = job.id, request.checkpoint
            dep.model_id = job.base_model_id
            if (folder / "adapter_config.json").is_file():
                dep.base_path, dep.adapter_path = str(base.get("path")), str(folder)
                dep.gguf_file = base.get("gguf_file")
                dep.trust_remote_code = bool(base.get("trust_remote_code"))
            else:  # a full or freeze fine-tune: the folder is a whole model
                dep.base_path = str(folder)
            label = f"job-{job.id}-{request.checkpoint or 'final'}"
            dep.name = job.name or label
        if request.faq_dataset_id is not None:
            dep.faq_version_id = self._faq_version(user, request.faq_dataset_id)
        dep.name = request.name or dep.name
        self.repo.add(dep)
        # Readable and unique: the source plus the row id.
        dep.served_model_name = f"{slugify(label)[:150]}-d{dep.id}"
        self.session.commit()
        return dep

    def _faq_version(self, user: Principal, dataset_id: int) -> int:
        version = DatasetRepository(self.session).resolve_version(user.user_id, dataset_id, None)
        if version is None:
            raise NotFound(f"Dataset {dataset_id} does not exist.", field="faq_dataset_id")
        return version.id

    def update(self, user: Principal, deployment_id: int, request: DeploymentUpdate) -> Deployment:
        dep = self.get(user, deployment_id)
        values = request.model_dump(exclude_unset=True)
        if "faq_dataset_id" in values:
            faq = values.pop("faq_dataset_id")
            dep.faq_version_id = self._faq_version(user, faq) if faq is not None else None
        for key, value in values.items():
            setattr(dep, key, value)
        self.session.commit()
        return dep

    def undeploy(self, user: Principal, deployment_id: int) -> Deployment:
        """Ask the worker to stop it; a deployment no worker has picked up stops at once."""
        dep = self.get(user, deployment_id)
        if dep.status in (DeploymentStatus.STOPPED, DeploymentStatus.FAILED):
            return dep
        dep.stop_requested = True
        if dep.worker_id is None:
            dep.status, dep.stopped_at = DeploymentStatus.STOPPED, utcnow()
        self.session.commit()
        return dep

    # --- keys --------------------------------------------------------------------------------------
    def create_key(self, user: Principal, deployment_id: int) -> tuple[DeploymentKey, str]:
        dep = self.get(user, deployment_id)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = DeploymentKey(
            owner_id=user.user_id, deployment_id=dep.id, prefix=key[:10], key_hash=hash_key(key)
        )
        self.repo.add(row)
        self.session.commit()
        return row, key

    def authorize(self, authorization: str | None) -> Deployment:
        """The deployment a ``Bearer`` key belongs to (401 otherwise)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("Send the deployment's API key as 'Authorization: Bearer <key>'.")
        row = self.repo.key_by_hash(hash_key(authorization[7:].strip()))
        if row is None:
            raise Unauthorized("Invalid API key.")
        dep = self.repo.get(row.deployment_id, None)
        if dep is None:
            raise Unauthorized("Invalid API key.")
        return dep
