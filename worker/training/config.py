"""RUN_DIR/config.json of the training child (docs/CONTRACTS.md), read and checked with pydantic."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.jobs.hyperparameters import METHODS, TrainHyperparameters


class ConfigError(ValueError):
    """A config.json the child cannot run; the message is meant for the user (exit code 2)."""


class BaseModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="A local folder or a model hub id.")
    gguf_file: str | None = None
    trust_remote_code: bool = False  # off unless the user opted in: remote code runs with our rights


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train_path: str = Field(min_length=1)
    eval_path: str | None = None


class RunConfig(BaseModel):
    # Unknown top-level keys are ignored so the supervisor may carry bookkeeping fields; the parts that
    # steer training (base_model, dataset, hyperparameters) forbid unknown keys to catch typos.
    model_config = ConfigDict(extra="ignore")

    job_id: int | str | None = None
    run_dir: str = Field(min_length=1)
    base_model: BaseModelSpec
    dataset: DatasetSpec
    method: str = "lora"
    hyperparameters: TrainHyperparameters = Field(default_factory=TrainHyperparameters)
    resume_from_checkpoint: str | None = (
        None  # a checkpoint folder, relative to run_dir or absolute, or "latest"
    )

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in METHODS:
            raise ValueError(f"unknown method {value!r}; choose one of {', '.join(METHODS)}")
        return value

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir)


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "config"
        problems.append(f"{where}: {error['msg']}")
    return "the training configuration is invalid: " + "; ".join(problems)


def load_config(path: Path) -> RunConfig:
    """Parse config.json; ConfigError with a readable sentence for a missing file, bad JSON or bad values."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"the training configuration {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the training configuration {path.name} is not valid JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"the training configuration {path.name} must be a JSON object")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def resolve_checkpoint(config: RunConfig) -> str | None:
    """The checkpoint folder to resume from, or None; ConfigError if the named one is missing."""
    spec = config.resume_from_checkpoint
    if not spec:
        return None
    checkpoints = config.run_path / "checkpoints"
    if spec == "latest":
        found = sorted(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1]))
        if not found:
            raise ConfigError("resume_from_checkpoint is 'latest' but this run has no checkpoint yet")
        return str(found[-1])
    path = Path(spec) if Path(spec).is_absolute() else config.run_path / spec
    if not (path / "trainer_state.json").is_file():
        raise ConfigError(
            f"cannot resume: {spec} is not a checkpoint folder of this run (no trainer_state.json)"
        )
    return str(path)
