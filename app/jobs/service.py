"""Rules of the job lifecycle: create (validated, then enqueued after commit), cancel, resume, read."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.catalog.service import CatalogService
from app.datasets.repository import DatasetRepository
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs.hyperparameters import AUTO_METHOD, METHODS, TrainHyperparameters, default_learning_rate
from app.jobs.prediction import predict_peak_bytes
from app.jobs.progress import build_job_read
from app.jobs.repository import JobRepository
from app.jobs.scheduling import QueueSlot, queue_slots, requested_resources
from app.jobs.schemas import JobRead, ResumeRequest, TrainJobCreate
from app.models import Job, JobKind, JobStatus, utcnow
from app.queue import enqueue_job, known_queues
from app.settings import get_settings
from app.users.quotas import check_job_quota

log = logging.getLogger("ftstudio.jobs")


def validate_hyperparameters(
    method: str, values: dict[str, Any], *, gpu_available: bool | None = None
) -> TrainHyperparameters:
    """Pydantic checks each field; method_rules checks combinations (and, when the workers' devices are
    known, precision x device). Both name the field at fault."""
    if method not in METHODS:
        choices = ", ".join((*METHODS, AUTO_METHOD))
        raise InvalidInput(f"Unknown method '{method}'. Choose one of: {choices}.", field="method")
    try:
        hp = TrainHyperparameters(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        # A rule across fields (a model validator) has no location: name the whole block.
        field = ".".join(["hyperparameters", *(str(part) for part in first["loc"])])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"{field}: {message}", field=field) from exc
    from app.jobs.method_rules import check_method_combination

    problems = check_method_combination(method, hp, gpu_available=gpu_available)
    if problems:
        field, reason = problems[0]
        raise InvalidInput(f"hyperparameters.{field}: {reason}", field=f"hyperparameters.{field}")
    if hp.learning_rate is None:  # the job's config records the rate it trains with
        hp.learning_rate = default_learning_rate(method)
    return hp


class JobService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.jobs = JobRepository(session)

    # --- reading -------------------------------------------------------------------------------
    def get(self, job_id: int, owner_id: int) -> Job:
        job = self.jobs.get(job_id, owner_id)
        if job is None:
            raise NotFound(f"Job {job_id} does not exist.")
        return job

    def read(self, job_id: int, owner_id: int | None) -> JobRead:
        job = self.get(job_id, owner_id)
        slots = queue_slots(self.session) if job.status == JobStatus.QUEUED else {}
        return with_queue_fields(build_job_read(job), job, slots)

    def list(
        self, owner_id: int | None, *, kind: str | None = None, status: str | None = None
    ) -> list[JobRead]:
        jobs = self.jobs.list(owner_id, kind=kind, status=status)
        # One query for every queued job's position, not one per job.
        slots = queue_slots(self.session) if any(j.status == JobStatus.QUEUED for j in jobs) else {}
        return [with_queue_fields(build_job_read(job), job, slots) for job in jobs]

    # --- creating ------------------------------------------------------------------------------
    def create_train_job(self, owner_id: int, request: TrainJobCreate) -> Job:
        queue = checked_queue(request.queue)  # first: a bad queue is a 422 whatever else is wrong
        from app.plans.devices import studio_devices

        devices = studio_devices(self.session)
        gpu = devices.gpu_available  # fp16 on a CPU-only studio is refused up front
        method, choice = request.method, None
        # Field errors first, before the catalog lookup: a bad value is a 422 whatever the model.
        hp = validate_hyperparameters(
            "full" if method == AUTO_METHOD else method, request.hyperparameters, gpu_available=gpu
        )
        model = CatalogService(self.session).get(request.base_model)
        if method == AUTO_METHOD:  # the job records the concrete method and why it was chosen
            from app.plans.auto_method import resolve_auto_method, target_of

            device, card = target_of(devices)
            choice = resolve_auto_method(self.session, model.id, hp, device=device, gpu=card)
            method = choice.method
            # Again for the chosen method: its own rules and its default learning rate.
            hp = validate_hyperparameters(method, request.hyperparameters, gpu_available=gpu)
        version = DatasetRepository(self.session).resolve_version(
            owner_id, request.dataset_id, request.dataset_version
        )
        if version is None:
            what = f"version {request.dataset_version} of dataset" if request.dataset_version else "dataset"
            raise NotFound(f"The {what} {request.dataset_id} does not exist.")
        if version.dataset.archived:
            raise Conflict(f"Dataset {request.dataset_id} is archived; unarchive it to train on it.")
        if version.num_train == 0:
            raise InvalidInput("The dataset has no training rows.", field="dataset_id")
        config: dict[str, Any] = {
            "method": method,
            "hyperparameters": hp.model_dump(),
            "base_model": {
                "id": model.id,
                "path": model.path,
                "gguf_file": model.gguf_file,
                "trust_remote_code": model.trust_remote_code,
            },
            "dataset": {
                "id": version.dataset_id,
                "version": version.version,
                "version_id": version.id,
                "path": version.path,
                "num_train": version.num_train,
                "num_val": version.num_val,
            },
        }
        if choice is not None:
            config["method_choice"] = choice.to_dict()
        if request.webhook_url:  # a URL, not a secret: the signing secret lives only in the settings
            config["webhook_url"] = request.webhook_url
        prediction = predict_peak_bytes(model.path, method, hp.model_dump())
        job = Job(
            owner_id=owner_id,
            kind=JobKind.TRAIN,
            method=method,
            base_model_id=model.id,
            dataset_version_id=version.id,
            config=config,
            name=request.name,
            queue=queue,
            # compared with the measured peak on the job page: the CPU profile where the workers are CPUs
            predicted_peak_bytes=prediction.get("cpu" if devices.cpu_only else "gpu"),
            requested_resources=requested_resources(JobKind.TRAIN, config, prediction),
            result={"predicted_peak_bytes": prediction},
        )
        return self._commit_and_enqueue(job)

    def resume(self, job_id: int, owner_id: int, request: ResumeRequest) -> Job:
        """A new job that continues a train job from one of its checkpoints (optimizer, scheduler, RNG)."""
        parent = self.get(job_id, owner_id)
        if parent.kind != JobKind.TRAIN:
            raise InvalidInput("Only training jobs can be resumed.", field="job_id")
        if not JobStatus(parent.status).is_final:
            raise Conflict(f"Job {job_id} is still {parent.status}; cancel it before resuming.")
        alive = [c for c in parent.checkpoints if not c.deleted]
        if request.checkpoint_step is not None:
            alive = [c for c in alive if c.step == request.checkpoint_step]
        if not alive:
            raise InvalidInput("That job has no checkpoint to resume from.", field="checkpoint_step")
        checkpoint = alive[-1]
        config = dict(parent.config)
        config["resume_from_checkpoint"] = f"{parent.run_dir}/{checkpoint.path}"
        if request.max_steps is not None:
            config["hyperparameters"] = {**config["hyperparameters"], "max_steps": request.max_steps}
        job = Job(
            owner_id=parent.owner_id,  # an admin resuming a member's job: the new job is the member's
            kind=JobKind.TRAIN,
            method=parent.method,
            base_model_id=parent.base_model_id,
            dataset_version_id=parent.dataset_version_id,
            config=config,
            parent_job_id=parent.id,
            name=f"{parent.name or f'job {parent.id}'} (resumed at step {checkpoint.step})",
            queue=parent.queue,
            priority=parent.priority,
            requested_resources=parent.requested_resources or {},
        )
        return self._commit_and_enqueue(job)

    def create_job(
        self,
        owner_id: int,
        *,
        kind: str,
        config: dict[str, Any],
        name: str | None = None,
        base_model_id: str | None = None,
        parent_job_id: int | None = None,
        dataset_version_id: int | None = None,
        queue: str | None = None,
        priority: int = 0,
    ) -> Job:
        """The seam for the other kinds (eval, export, dataset analysis): same queue, same supervision."""
        if kind not in set(JobKind) and not (kind == "sleep" and get_settings().enable_test_job_kinds):
            raise InvalidInput(f"Unknown job kind '{kind}'.", field="kind")
        job = Job(
            owner_id=owner_id,
            kind=kind,
            config=config,
            name=name,
            base_model_id=base_model_id,
            parent_job_id=parent_job_id,
            dataset_version_id=dataset_version_id,
            queue=checked_queue(queue),
            priority=priority,
            requested_resources=requested_resources(kind, config, None),
        )
        return self._commit_and_enqueue(job)

    def _commit_and_enqueue(self, job: Job) -> Job:
        check_job_quota(self.session, job.owner_id)  # every kind of job: 429 with the limit named
        self.jobs.add(job)
        self.session.commit()
        # After the commit, so a fast worker never looks for a row that is not there yet.
        # The message only wakes a worker: the job is in the database, and if the broker is down right now
        # (Redis restarting) a worker's sweep wakes one for it later. It never sits queued forever.
        try:
            enqueue_job(job.id, job.queue)
        except Exception as exc:
            log.warning("job %s saved; waking a worker failed (%s), the sweep will retry", job.id, exc)
        return job

    # --- cancelling ----------------------------------------------------------------------------
    def cancel(self, job_id: int, owner_id: int) -> Job:
        job = self.get(job_id, owner_id)
        if JobStatus(job.status).is_final:
            raise Conflict(f"Job {job_id} already ended ({job.status}).")
        job.cancel_requested = True
        if job.status == JobStatus.QUEUED:
            # The worker skips a job that is no longer queued when it takes it off the queue.
            job.status, job.finished_at = JobStatus.CANCELLED, utcnow()
        # A running job: its supervisor polls this flag and sends SIGTERM to the child's process group.
        self.session.commit()
        return job


def checked_queue(queue: str | None) -> str:
    """One of the known queues (settings.queues and the default), else a 422 before any row is written."""
    settings = get_settings()
    name = queue or settings.default_queue
    allowed = known_queues(settings)
    if name not in allowed:
        raise InvalidInput(f"Unknown queue '{name}'. Choose one of: {', '.join(allowed)}.", field="queue")
    return name


def with_queue_fields(read: JobRead, job: Job, slots: dict[int, QueueSlot]) -> JobRead:
    slot = slots.get(job.id) if job.status == JobStatus.QUEUED else None
    return read.model_copy(
        update={
            "worker": job.worker_id,
            "attempts": job.attempts or 0,
            "max_attempts": job.max_attempts or get_settings().job_max_attempts,
            "priority": job.priority or 0,
            "queue": job.queue,
            "requested_resources": job.requested_resources or {},
            "queue_position": slot.position if slot else None,
            "estimated_start_at": slot.estimated_start_at if slot else None,
        }
    )
