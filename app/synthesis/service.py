"""Rules of synthetic data generation: validate a request, keep its key as a secret, create the job;
preview one prompt and one call; resume; read progress; saved templates."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.datasets.repository import DatasetRepository
from app.deps import Principal
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs.progress import build_job_read
from app.jobs.service import JobService
from app.models import Job, JobKind, JobStatus, Secret, SynthesisTemplate
from app.synthesis import landing
from app.synthesis.caller import Caller, EndpointError
from app.synthesis.endpoints import deployment_endpoint
from app.synthesis.parsing import ParseError, parse_conversations
from app.synthesis.prompts import (
    DEFAULT_TEMPLATE,
    SEED_PROMPTS,
    TemplateError,
    check_template,
    render_messages,
)
from app.synthesis.prompts import seed_text as render_seed
from app.synthesis.repository import SynthesisRepository
from app.synthesis.schemas import (
    PreviewRead,
    PreviewRequest,
    ResumeSynthesis,
    SynthesisRead,
    SynthesizeRequest,
    TemplateFields,
)
from app.synthesis.secrets import SecretUnreadable, decrypt, encrypt


class SynthesisService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repo = SynthesisRepository(session)

    # --- templates -----------------------------------------------------------------------------
    def get_template(self, user: Principal, template_id: int) -> SynthesisTemplate:
        found = self.repo.template(user.scope_owner_id, template_id)
        if found is None:
            raise NotFound(f"Template {template_id} does not exist.")
        return found

    def save_template(self, user: Principal, fields: TemplateFields, template_id: int | None = None) -> Any:
        self._check(fields.model_dump())
        template = self.get_template(user, template_id) if template_id else None
        if template is None:
            template = SynthesisTemplate(owner_id=user.user_id)
            self.session.add(template)
        for key, value in fields.model_dump().items():
            setattr(template, key, value)
        self.session.commit()
        return template

    def delete_template(self, user: Principal, template_id: int) -> None:
        self.session.delete(self.get_template(user, template_id))
        self.session.commit()

    def delete_secret(self, user: Principal, secret_id: int) -> None:
        secret = self.repo.secret(user.scope_owner_id, secret_id)
        if secret is None:
            raise NotFound(f"Saved key {secret_id} does not exist.")
        self.session.delete(secret)
        self.session.commit()

    @staticmethod
    def _check(template: dict[str, Any]) -> None:
        try:
            check_template(template)
        except TemplateError as exc:
            raise InvalidInput(str(exc), field=exc.field) from exc

    # --- building a run ------------------------------------------------------------------------
    def _template(self, user: Principal, request: SynthesizeRequest) -> dict[str, Any]:
        if request.template is not None:
            template = request.template.model_dump()
        elif request.template_id is not None:
            saved = self.get_template(user, request.template_id)
            template = TemplateFields.model_validate(saved, from_attributes=True).model_dump()
            template["id"] = saved.id
        else:
            template = dict(DEFAULT_TEMPLATE)
            if request.seed_dataset_id is not None:
                template["prompt"] = SEED_PROMPTS[request.seed_mode]
        self._check(template)
        return template

    def _seeds(self, user: Principal, request: SynthesizeRequest) -> tuple[dict[str, Any], int | None]:
        if request.seed_dataset_id is None:
            if not request.topics:
                raise InvalidInput("Give seed topics, or a dataset whose rows to vary.", field="topics")
            return {"kind": "topics", "topics": request.topics}, None
        version = DatasetRepository(self.session).resolve_version(
            user.user_id, request.seed_dataset_id, request.seed_version
        )
        if version is None:
            raise NotFound(f"The seed dataset {request.seed_dataset_id} (or that version) does not exist.")
        seeds = {"kind": "dataset", "dataset_id": version.dataset_id, "version": version.version,
                 "version_id": version.id, "version_path": version.path, "mode": request.seed_mode,
                 "row_ids": request.seed_row_ids[:10000], "limit": request.seed_limit}  # fmt: skip
        return seeds, version.id

    def _endpoint(self, user: Principal, request: SynthesizeRequest) -> dict[str, Any]:
        if request.deployment_id is not None:
            return self._deployment(user, request)
        if not request.base_url:
            raise InvalidInput("Give the endpoint's base URL (e.g. https://host/v1).", field="base_url")
        if not request.model:
            raise InvalidInput("Give the model name the endpoint serves.", field="model")
        endpoint: dict[str, Any] = {"kind": "external", "base_url": request.base_url, "secret_id": None}
        if request.api_key is not None and request.api_key.get_secret_value():
            plain = request.api_key.get_secret_value()
            secret = Secret(owner_id=user.user_id, name=request.base_url[:300], ciphertext=encrypt(plain),
                            hint=plain[-4:] if len(plain) >= 12 else "")  # fmt: skip
            self.repo.add(secret)
            endpoint["secret_id"] = secret.id
        elif request.secret_id is not None:
            if self.repo.secret(user.scope_owner_id, request.secret_id) is None:
                raise NotFound(f"Saved key {request.secret_id} does not exist.", field="secret_id")
            endpoint["secret_id"] = request.secret_id
        return endpoint

    def _deployment(self, user: Principal, request: SynthesizeRequest) -> dict[str, Any]:
        """One of the studio's own deployments: a key minted for this job and kept as a synthesis Secret
        (encrypted), the studio's /v1 URL, and the deployment's served model name as the model."""
        if request.base_url or (request.api_key and request.api_key.get_secret_value()) or request.secret_id:
            raise InvalidInput(
                "Give either a deployment or an external endpoint (base URL and key), not both.",
                field="deployment_id",
            )
        assert request.deployment_id is not None
        base_url, key, served = deployment_endpoint(self.session, user, request.deployment_id, request.model)
        secret = Secret(owner_id=user.user_id, name=f"deployment {request.deployment_id}: {served}"[:300],
                        ciphertext=encrypt(key), hint=key[-4:])  # fmt: skip
        self.repo.add(secret)
        return {"kind": "deployment", "deployment_id": request.deployment_id, "base_url": base_url,
                "secret_id": secret.id, "model": served}  # fmt: skip

    def _target(self, user: Principal, request: SynthesizeRequest) -> dict[str, Any]:
        if request.dataset_id is None:
            source = request.model or f"deployment {request.deployment_id}"
            return {"name": request.name or f"synthetic {source}"[:200]}
        dataset = DatasetRepository(self.session).get(user.user_id, request.dataset_id)
        if dataset is None:
            raise NotFound(f"Dataset {request.dataset_id} does not exist.", field="dataset_id")
        if dataset.archived:
            raise Conflict(f"Dataset {request.dataset_id} is archived.", field="dataset_id")
        return {"name": dataset.name, "dataset_id": dataset.id, "mode": "append"}

    def create(self, user: Principal, request: SynthesizeRequest, queue: str | None = None) -> Job:
        template = self._template(user, request)
        seeds, seed_version_id = self._seeds(user, request)
        target = self._target(user, request)
        endpoint = self._endpoint(user, request)  # last: a request that fails above saves no key
        config = {
            "endpoint": endpoint,
            "model": endpoint.get("model") or request.model,
            "template": template,
            "seeds": seeds,
            "target_rows": request.rows,
            "dataset": target,
            **request.model_dump(
                include={
                    "turns",
                    "temperature",
                    "max_tokens",
                    "rate_limit_per_minute",
                    "price_per_1k_tokens",
                    "json_mode",
                    "max_retries",
                    "backoff_base",
                    "dedup",
                    "near_dup_threshold",
                    "max_chars",
                    "val_set_size",
                    "val_set_rate",
                }  # fmt: skip
            ),
        }
        return JobService(self.session).create_job(
            user.user_id,
            kind=JobKind.SYNTHESIS,
            config=config,
            name=f"synthesize: {target['name']}"[:200],
            dataset_version_id=seed_version_id,
            queue=queue,
        )

    def resume(self, user: Principal, job_id: int, request: ResumeSynthesis) -> Job:
        parent = JobService(self.session).get(job_id, user.scope_owner_id)
        if parent.kind != JobKind.SYNTHESIS:
            raise InvalidInput(f"Job {job_id} is not a synthesis job.", field="job_id")
        if not JobStatus(parent.status).is_final:
            raise Conflict(f"Job {job_id} is still {parent.status}; cancel it before resuming.")
        if parent.status == JobStatus.SUCCEEDED and request.rows is None:
            raise Conflict(f"Job {job_id} finished; give a larger number of rows to continue it.")
        config = dict(parent.config)
        config.update(resume_from=parent.run_dir, resumed_from_job_id=parent.id)
        if request.rows is not None:
            config["target_rows"] = request.rows
        landed = (parent.result or {}).get("dataset_id")
        if landed:  # the parent's version is replaced by one with all rows (the parent's and the new)
            config["dataset"] = {"name": config["dataset"]["name"], "dataset_id": landed, "mode": "replace"}
        return JobService(self.session).create_job(
            parent.owner_id,
            kind=JobKind.SYNTHESIS,
            config=config,
            name=f"{parent.name} (resumed)"[:200],
            parent_job_id=parent.id,
            dataset_version_id=parent.dataset_version_id,
            queue=parent.queue,
        )

    # --- reading -------------------------------------------------------------------------------
    def read(self, user: Principal, job_id: int) -> SynthesisRead:
        job = JobService(self.session).get(job_id, user.scope_owner_id)
        if job.kind != JobKind.SYNTHESIS:
            raise NotFound(f"Synthesis job {job_id} does not exist.")
        return to_read(job)

    def list(self, user: Principal) -> list[SynthesisRead]:
        return [
            to_read(j)
            for j in JobService(self.session).jobs.list(user.scope_owner_id, kind=JobKind.SYNTHESIS)
        ]

    # --- preview -------------------------------------------------------------------------------
    def preview(self, user: Principal, request: PreviewRequest) -> PreviewRead:
        """One rendered prompt (the first seed), and with call=True one real call, parsed. Saves nothing."""
        template = self._template(user, request)
        seeds, _ = self._seeds(user, request)
        values: dict[str, Any] = {"n": 1, "turns": request.turns, "topic": "", "seed": ""}
        if seeds["kind"] == "topics":
            values["topic"] = seeds["topics"][0]
        else:
            rows = landing.read_jsonl(_data_dir() / seeds["version_path"] / "rows.jsonl", 1)
            if rows:
                values["seed"] = render_seed(rows[0])
                values["topic"] = next((m["content"] for m in rows[0]["messages"] if m["role"] == "user"), "")
        messages = render_messages(template, values)
        result = PreviewRead(messages=messages)
        if not request.call:
            return result
        base_url, model = request.base_url, request.model
        key = request.api_key.get_secret_value() if request.api_key else ""
        if request.deployment_id is not None:  # a key of its own, used once and not saved
            base_url, key, model = deployment_endpoint(self.session, user, request.deployment_id, model)
        if not base_url:
            raise InvalidInput("Give the endpoint's base URL to try a call.", field="base_url")
        if not model:
            raise InvalidInput("Give the model name the endpoint serves.", field="model")
        if not key and request.secret_id is not None:
            secret = self.repo.secret(user.scope_owner_id, request.secret_id)
            if secret is None:
                raise NotFound(f"Saved key {request.secret_id} does not exist.", field="secret_id")
            try:
                key = decrypt(secret.ciphertext)
            except SecretUnreadable as exc:
                raise InvalidInput(str(exc), field="secret_id") from exc
        caller = Caller(base_url=base_url, api_key=key, model=model,
                        temperature=request.temperature, max_tokens=request.max_tokens,
                        json_mode=request.json_mode, max_retries=min(request.max_retries, 2),
                        backoff_base=min(request.backoff_base, 2.0), timeout=60.0)  # fmt: skip
        try:
            answer = caller.chat(messages)
        except EndpointError as exc:
            result.call_error = str(exc)
            return result
        result.answer, result.json_mode = answer.text, answer.json_mode
        result.usage = {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens}
        try:
            result.conversations = parse_conversations(answer.text)
        except ParseError as exc:
            result.parse_error = str(exc)
        return result


def _data_dir() -> Any:
    from app.settings import get_settings

    return get_settings().resolved_data_dir


def to_read(job: Job) -> SynthesisRead:
    progress = landing.read_progress(job.run_dir) or (job.result or {}).get("progress") or {}
    examples = landing.read_jsonl(_data_dir() / job.run_dir / landing.UNPARSED, 5) if job.run_dir else []
    return SynthesisRead(
        job=build_job_read(job),
        progress=progress,
        unparsed_examples=examples,
        dataset_id=(job.result or {}).get("dataset_id"),
        version=(job.result or {}).get("version"),
    )
