"""Evaluation jobs: create (a catalog model or a fine-tune), one-click base vs fine-tuned with a cache,
read scores grouped, compare two evaluations, and the MMCU leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.catalog.service import CatalogService
from app.datasets.repository import DatasetRepository
from app.errors import Conflict, InvalidInput, NotFound
from app.evaluations.compare import comparison_rows, pair_samples
from app.evaluations.repository import EvaluationRepository
from app.evaluations.schemas import (
    Comparison,
    EvalSuite,
    EvaluationCreate,
    EvaluationRead,
    EvaluationScores,
    LeaderboardRow,
    MetricScore,
    MmcuScores,
    SubjectScore,
)
from app.jobs.progress import build_progress
from app.jobs.service import JobService
from app.models import Job, JobKind, JobStatus, Role, Score, User
from app.safe_paths import UnsafePath, resolve_inside
from app.settings import get_settings

MMCU_DOMAINS = ("医疗", "法律", "心理", "教育")
READ_SAMPLES = 20


def _val_split(folder: Path, what: str) -> str:
    val = folder / "val.jsonl"
    if not val.is_file() or val.stat().st_size == 0:
        raise InvalidInput(
            f"{what} has no validation rows to score BLEU/ROUGE on; give suite.bleu_rouge.rows_path or "
            "a dataset_id with a validation split.",
            field="suite.bleu_rouge",
        )
    return str(val)


def group_scores(scores: list[Score]) -> EvaluationScores:
    """Score rows -> {bleu_rouge: {metric: {value, count}}, mmcu: {overall, overall_micro, domains,
    subjects}}."""
    grouped = EvaluationScores()
    mmcu: MmcuScores | None = None
    for s in scores:
        if s.suite == "bleu_rouge":
            grouped.bleu_rouge[s.metric] = MetricScore(value=s.value, count=s.count)
        elif s.suite == "mmcu":
            mmcu = mmcu or MmcuScores()
            if s.subject is not None:
                mmcu.subjects[s.subject] = SubjectScore(value=s.value, count=s.count, domain=s.domain)
            elif s.domain is not None:
                mmcu.domains[s.domain] = MetricScore(value=s.value, count=s.count)
            elif s.metric == "accuracy":
                mmcu.overall = s.value
            elif s.metric == "accuracy_micro":
                mmcu.overall_micro = s.value
    grouped.mmcu = mmcu
    return grouped


class EvaluationService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.evaluations = EvaluationRepository(session)
        self.jobs = JobService(session)

    # --- building the child's config ----------------------------------------------------------------
    def _suite_config(self, owner_id: int, suite: EvalSuite, train_job: Job | None) -> dict[str, Any]:
        out: dict[str, Any] = {"bleu_rouge": None, "mmcu": None}
        if suite.bleu_rouge is not None:
            br = suite.bleu_rouge
            data_dir = get_settings().resolved_data_dir
            if br.rows_path:
                rows_path = str(
                    self._eval_file(owner_id, br.rows_path, "suite.bleu_rouge.rows_path", file=True)
                )
            elif br.dataset_id is not None:
                version = DatasetRepository(self.session).resolve_version(
                    owner_id, br.dataset_id, br.dataset_version
                )
                if version is None:
                    raise NotFound(f"Dataset {br.dataset_id} (or that version) does not exist.")
                rows_path = _val_split(data_dir / version.path, f"Dataset {br.dataset_id}")
            elif train_job is not None:
                rows_path = _val_split(
                    data_dir / train_job.config["dataset"]["path"], f"The dataset of job {train_job.id}"
                )
            else:
                raise InvalidInput(
                    "suite.bleu_rouge needs rows_path or dataset_id when evaluating a catalog model.",
                    field="suite.bleu_rouge",
                )
            out["bleu_rouge"] = {"rows_path": rows_path, "limit": br.limit, "generation": br.generation}
        if suite.mmcu is not None:
            mm = suite.mmcu
            folder = self._eval_file(owner_id, mm.data_dir, "suite.mmcu.data_dir", file=False)
            out["mmcu"] = {
                "data_dir": str(folder.resolve()),
                "mode": mm.mode,
                "shots": mm.shots,
                "limit": mm.limit,
            }
        return out

    def _eval_file(self, owner_id: int | None, text: str, field: str, *, file: bool) -> Path:
        """A user-named evaluation file or folder, resolved inside the folders this user may read
        (members: the studio's eval-data folder; admins: FTSTUDIO_EVAL_DATA_ROOTS). One message for
        "outside", "missing" and "wrong kind", so the answer never tells which host files exist."""
        settings = get_settings()
        # owner_id None is an admin's scope (compare_with_base is called with user.scope_owner_id).
        user = self.session.get(User, owner_id) if owner_id is not None else None
        admin = owner_id is None or (user is not None and user.role == Role.ADMIN)
        roots = settings.resolved_eval_data_roots if admin else [settings.eval_data_dir]
        if file:
            expected = "a JSONL file of normalised rows"
        else:
            expected = "an MMCU-layout folder (with test/) or a flat CSV/JSONL of questions"
        message = (
            f"{field} '{text[:300]}' is not {expected} inside the evaluation data folders "
            f"({'FTSTUDIO_EVAL_DATA_ROOTS' if admin else 'the studio data folder eval-data/'}); "
            "to score a dataset, give dataset_id instead."
        )
        try:
            path = resolve_inside(text, roots)
        except UnsafePath:
            raise InvalidInput(message, field=field) from None
        ok = path.is_file() if file else (path.is_dir() and (path / "test").is_dir()) or path.is_file()
        if not ok:
            raise InvalidInput(message, field=field)
        return path

    @staticmethod
    def _model_config(path: str, gguf_file: str | None, trust: bool, adapter: str | None) -> dict[str, Any]:
        return {
            "path": path,
            "gguf_file": gguf_file,
            "trust_remote_code": bool(trust),
            "adapter_path": adapter,
        }

    def _base_model_config(self, model_id: str) -> tuple[dict[str, Any], str]:
        model = CatalogService(self.session).get(model_id)
        return self._model_config(model.path, model.gguf_file, model.trust_remote_code, None), model.id

    def _finetune_model_config(self, train_job: Job) -> dict[str, Any]:
        """A PEFT fine-tune: base model + adapter in final/; a full/freeze fine-tune: final/ is the model."""
        base = train_job.config["base_model"]
        final = Path(train_job.run_dir or "") / "final"
        if (final / "adapter_config.json").is_file():
            return self._model_config(
                base["path"], base.get("gguf_file"), base.get("trust_remote_code", False), str(final)
            )
        if (final / "config.json").is_file():
            return self._model_config(str(final), None, base.get("trust_remote_code", False), None)
        raise Conflict(f"Job {train_job.id} left no fine-tuned model in {final}.")

    def _train_job(self, owner_id: int, job_id: int) -> Job:
        job = self.jobs.get(job_id, owner_id)
        if job.kind != JobKind.TRAIN:
            raise InvalidInput(f"Job {job_id} is a {job.kind} job, not a training job.", field="job_id")
        if job.status != JobStatus.SUCCEEDED:
            raise Conflict(f"Job {job_id} is {job.status}; only a succeeded fine-tune can be evaluated.")
        return job

    def _submit(
        self,
        owner_id: int,
        config: dict[str, Any],
        *,
        name: str,
        base_model_id: str | None,
        parent_job_id: int | None,
        reuse: bool,
    ) -> tuple[Job, bool]:
        if reuse and (twin := self.evaluations.find_identical(owner_id, config)) is not None:
            return twin, True
        job = self.jobs.create_job(
            owner_id,
            kind=JobKind.EVAL,
            config=config,
            name=name,
            base_model_id=base_model_id,
            parent_job_id=parent_job_id,
        )
        return job, False

    # --- creating -----------------------------------------------------------------------------------
    def create(self, owner_id: int, request: EvaluationCreate) -> Job:
        """A new evaluation job (never reused: an explicit request runs)."""
        if request.job_id is not None:
            train = self._train_job(owner_id, request.job_id)
            config = {
                "model": self._finetune_model_config(train),
                "suite": self._suite_config(owner_id, request.suite, train),
            }
            name = request.name or f"job #{train.id} fine-tune"
            job, _ = self._submit(
                owner_id,
                config,
                name=name,
                base_model_id=train.base_model_id,
                parent_job_id=train.id,
                reuse=False,
            )
            return job
        assert request.model is not None
        model_config, model_id = self._base_model_config(request.model)
        config = {"model": model_config, "suite": self._suite_config(owner_id, request.suite, None)}
        job, _ = self._submit(
            owner_id,
            config,
            name=request.name or f"{model_id}",
            base_model_id=model_id,
            parent_job_id=None,
            reuse=False,
        )
        return job

    def compare_with_base(
        self, owner_id: int, job_id: int, suite: EvalSuite
    ) -> tuple[Job, Job, dict[str, bool]]:
        """One click: the same suite on the base model and on the fine-tune of train job ``job_id``. An
        identical earlier evaluation (same model, adapter and suite; succeeded or in flight) is reused."""
        train = self._train_job(owner_id, job_id)
        suite_config = self._suite_config(owner_id, suite, train)
        base_id = train.base_model_id or train.config["base_model"].get("id")
        base_cfg = train.config["base_model"]
        base_config = {
            "model": self._model_config(
                base_cfg["path"], base_cfg.get("gguf_file"), base_cfg.get("trust_remote_code", False), None
            ),
            "suite": suite_config,
        }
        tuned_config = {"model": self._finetune_model_config(train), "suite": suite_config}
        base, base_cached = self._submit(
            train.owner_id,  # an admin comparing a member's job: the evaluations are the member's
            base_config,
            name=f"{base_id} (base)",
            base_model_id=base_id,
            parent_job_id=None,
            reuse=True,
        )
        tuned, tuned_cached = self._submit(
            train.owner_id,
            tuned_config,
            name=f"job #{train.id} fine-tune",
            base_model_id=base_id,
            parent_job_id=train.id,
            reuse=True,
        )
        return base, tuned, {"base": base_cached, "tuned": tuned_cached}

    def base_twin(self, owner_id: int, tuned: Job) -> Job | None:
        """The base-model evaluation with the same suite as a fine-tune's evaluation (its compare link)."""
        if tuned.parent_job_id is None:
            return None
        model = dict((tuned.config or {}).get("model") or {})
        parent = self.jobs.jobs.get(tuned.parent_job_id, owner_id)
        if parent is None or not model:
            return None
        base = parent.config.get("base_model") or {}
        config = {
            "model": self._model_config(
                base.get("path", ""), base.get("gguf_file"), base.get("trust_remote_code", False), None
            ),
            "suite": tuned.config.get("suite"),
        }
        return self.evaluations.find_identical(tuned.owner_id, config)

    # --- reading ------------------------------------------------------------------------------------
    def get(self, evaluation_id: int, owner_id: int) -> Job:
        job = self.evaluations.get(evaluation_id, owner_id)
        if job is None:
            raise NotFound(f"Evaluation {evaluation_id} does not exist.")
        return job

    def to_read(self, job: Job, scores: list[Score], *, with_samples: bool = True) -> EvaluationRead:
        model = (job.config or {}).get("model") or {}
        if job.parent_job_id is not None:
            target = f"job #{job.parent_job_id} fine-tune"
        else:
            target = f"model {job.base_model_id or model.get('path')}"
        samples = (job.result or {}).get("samples") or []
        return EvaluationRead(
            id=job.id,
            name=job.name,
            status=job.status,
            target=target,
            model=job.base_model_id,
            job_id=job.parent_job_id,
            is_fine_tune=job.parent_job_id is not None or bool(model.get("adapter_path")),
            suite=(job.config or {}).get("suite") or {},
            progress=build_progress(job),
            error=job.error,
            scores=group_scores(scores),
            samples=samples[:READ_SAMPLES] if with_samples else [],
            created_at=job.created_at,
            finished_at=job.finished_at,
        )

    def read(self, evaluation_id: int, owner_id: int) -> EvaluationRead:
        job = self.get(evaluation_id, owner_id)
        return self.to_read(job, self.evaluations.scores([job.id])[job.id])

    def list(self, owner_id: int, *, parent_job_id: int | None = None) -> list[EvaluationRead]:
        jobs = self.evaluations.list(owner_id, parent_job_id=parent_job_id)
        scores = self.evaluations.scores([j.id for j in jobs])
        return [self.to_read(j, scores[j.id], with_samples=False) for j in jobs]

    def comparison(
        self, owner_id: int, base_id: int, tuned_id: int, *, confidence: float = 0.95
    ) -> Comparison:
        base, tuned = self.get(base_id, owner_id), self.get(tuned_id, owner_id)
        for job in (base, tuned):
            if job.status != JobStatus.SUCCEEDED:
                raise Conflict(f"Evaluation {job.id} is {job.status}; compare it once it has succeeded.")
        scores = self.evaluations.scores([base.id, tuned.id])
        base_result, tuned_result = base.result or {}, tuned.result or {}
        rows, notes = comparison_rows(
            scores[base.id],
            scores[tuned.id],
            base_result.get("per_item") or {},
            tuned_result.get("per_item") or {},
            confidence=confidence,
        )
        if (base.config or {}).get("suite") != (tuned.config or {}).get("suite"):
            notes.insert(0, "The two evaluations ran different suites: differences are not like for like.")
        return Comparison(
            base=self.to_read(base, scores[base.id], with_samples=False),
            tuned=self.to_read(tuned, scores[tuned.id], with_samples=False),
            rows=rows,
            samples=pair_samples(base_result.get("samples") or [], tuned_result.get("samples") or []),
            confidence=confidence,
            notes=notes,
        )

    def leaderboard(self, owner_id: int) -> list[LeaderboardRow]:
        """Our succeeded MMCU-layout evaluations beside MMCU's published zero-shot rows, best first."""
        from worker.evaluation.mmcu_scoring import PUBLISHED_SOURCE, PUBLISHED_ZERO_SHOT  # stdlib only

        jobs = [j for j in self.evaluations.list(owner_id) if j.status == JobStatus.SUCCEEDED]
        scores = self.evaluations.scores([j.id for j in jobs])
        rows: list[LeaderboardRow] = []
        for job in jobs:
            mmcu = group_scores(scores[job.id]).mmcu
            if mmcu is None or mmcu.overall is None:
                continue
            suite = (job.config or {}).get("suite") or {}
            rows.append(
                LeaderboardRow(
                    model=self.to_read(job, [], with_samples=False).target,
                    source="ours",
                    evaluation_id=job.id,
                    data_dir=(suite.get("mmcu") or {}).get("data_dir"),
                    domains={d: (mmcu.domains[d].value if d in mmcu.domains else None) for d in MMCU_DOMAINS},
                    overall=mmcu.overall,
                )
            )
        for name, published in PUBLISHED_ZERO_SHOT.items():
            rows.append(
                LeaderboardRow(
                    model=name,
                    source=PUBLISHED_SOURCE,
                    domains={d: published.get(d) for d in MMCU_DOMAINS},
                    overall=published.get("overall"),
                )
            )
        return sorted(rows, key=lambda r: -(r.overall or 0.0))
