"""The public shapes of the evaluation API (requests and answers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.jobs.schemas import Progress


class BleuRougeSuite(BaseModel):
    """BLEU-1..4 and ROUGE on reference answers. The rows come from, in this order: ``rows_path`` (a JSONL of
    normalised rows on the server), a dataset version's validation split (``dataset_id``), or the train
    job's own validation split."""

    model_config = ConfigDict(extra="forbid")

    rows_path: str | None = Field(
        default=None,
        max_length=4000,
        description="A JSONL of normalised rows in the evaluation data folders (members: the data dir's "
        "eval-data/; admins: FTSTUDIO_EVAL_DATA_ROOTS). Prefer dataset_id.",
    )
    dataset_id: int | None = Field(default=None, description="Use this dataset's validation split.")
    dataset_version: int | None = Field(default=None, ge=1)
    limit: int = Field(default=40, ge=2, le=5000, description="Score the first N rows.")
    generation: dict[str, Any] = Field(
        default_factory=dict, description="Generation settings (preset and overrides; see the engine)."
    )


class MmcuSuite(BaseModel):
    """MMCU-layout multiple choice: a folder with test/ (and dev/ for few-shot) workbooks."""

    model_config = ConfigDict(extra="forbid")

    data_dir: str = Field(
        min_length=1,
        max_length=4000,
        description="An MMCU-layout folder in the evaluation data folders (members: the data dir's "
        "eval-data/; admins: FTSTUDIO_EVAL_DATA_ROOTS).",
    )
    mode: Literal["likelihood", "reference"] = Field(
        default="likelihood",
        description="likelihood: the answer letter the model finds most likely; reference: MMCU's "
        "generate-then-read protocol.",
    )
    shots: int = Field(default=0, ge=0, le=5)
    limit: int | None = Field(
        default=None, ge=1, le=100000, description="Score the first N questions (in file order)."
    )


class EvalSuite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bleu_rouge: BleuRougeSuite | None = None
    mmcu: MmcuSuite | None = None

    @model_validator(mode="after")
    def _something(self) -> EvalSuite:
        if self.bleu_rouge is None and self.mmcu is None:
            raise ValueError("choose at least one of bleu_rouge and mmcu")
        return self


class EvaluationCreate(BaseModel):
    """POST /api/v1/evaluations: a catalog model, or a finished train job (its fine-tuned output)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, description="A model id from GET /api/v1/models.")
    job_id: int | None = Field(default=None, description="A succeeded train job: evaluate its fine-tune.")
    suite: EvalSuite
    name: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_target(self) -> EvaluationCreate:
        if (self.model is None) == (self.job_id is None):
            raise ValueError("give exactly one of model (a catalog id) and job_id (a train job)")
        return self


class CompareRequest(BaseModel):
    """POST /api/v1/jobs/{id}/compare: the suite both sides run."""

    model_config = ConfigDict(extra="forbid")

    suite: EvalSuite


class MetricScore(BaseModel):
    value: float
    count: int | None = None


class SubjectScore(MetricScore):
    domain: str | None = None


class MmcuScores(BaseModel):
    overall: float | None = None
    overall_micro: float | None = None
    domains: dict[str, MetricScore] = Field(default_factory=dict)
    subjects: dict[str, SubjectScore] = Field(default_factory=dict)


class EvaluationScores(BaseModel):
    bleu_rouge: dict[str, MetricScore] = Field(default_factory=dict)
    mmcu: MmcuScores | None = None


class EvaluationRead(BaseModel):
    id: int
    name: str | None
    status: str
    target: str = Field(description="What was evaluated: 'model <id>' or 'job <id> (<method>)'.")
    model: str | None = Field(description="The catalog model (the base of a fine-tune).")
    job_id: int | None = Field(description="The train job whose fine-tune was evaluated, if any.")
    is_fine_tune: bool
    suite: dict[str, Any]
    progress: Progress
    error: str | None
    scores: EvaluationScores
    samples: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime
    finished_at: datetime | None


class CompareStarted(BaseModel):
    base: EvaluationRead
    tuned: EvaluationRead
    cached: dict[str, bool] = Field(description="Which side reused an earlier identical evaluation.")
    compare_url: str


class ComparisonRow(BaseModel):
    suite: str
    metric: str
    domain: str | None = None
    subject: str | None = None
    base: float | None
    tuned: float | None
    diff: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    significant: bool | None = None
    n_items: int | None = None


class SamplePair(BaseModel):
    prompt: str
    reference: str | None
    base: str | None
    tuned: str | None


class Comparison(BaseModel):
    base: EvaluationRead
    tuned: EvaluationRead
    rows: list[ComparisonRow]
    samples: list[SamplePair]
    confidence: float
    notes: list[str] = Field(default_factory=list)


class LeaderboardRow(BaseModel):
    """One row of the MMCU table: ours (an evaluation) or a published zero-shot result."""

    model: str
    source: str
    evaluation_id: int | None = None
    data_dir: str | None = None
    domains: dict[str, float | None] = Field(description="医疗, 法律, 心理, 教育 (None: not covered).")
    overall: float | None = None
