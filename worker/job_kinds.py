"""What each job kind runs, and what happens to its results. One entry per kind keeps the supervisor
generic: training, evaluation and export all run as a child process with the same event contract."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.jobs.hyperparameters import TrainHyperparameters
from app.models import Job, JobKind
from app.settings import get_settings


@dataclass
class RunSpec:
    argv: list[str]
    env: dict[str, str]
    config: dict[str, Any]


def write_config(run_dir: Path, config: dict[str, Any]) -> Path:
    path = run_dir / "config.json"
    temp = path.with_suffix(".json.tmp")
    temp.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    temp.replace(path)
    return path


def _dataset_paths(job: Job) -> dict[str, str | None]:
    data_dir = get_settings().resolved_data_dir
    folder = data_dir / job.config["dataset"]["path"]
    val = folder / "val.jsonl"
    has_val = val.is_file() and val.stat().st_size > 0
    return {"train_path": str(folder / "train.jsonl"), "eval_path": str(val) if has_val else None}


def train_spec(job: Job, run_dir: Path) -> RunSpec:
    from worker.training.launch_command import build_launch

    hp = TrainHyperparameters(**job.config["hyperparameters"])
    base = job.config["base_model"]
    config = {
        "job_id": job.id,
        "run_dir": str(run_dir),
        "base_model": {
            "path": base["path"],
            "gguf_file": base.get("gguf_file"),
            "trust_remote_code": bool(base.get("trust_remote_code")),
        },
        "dataset": _dataset_paths(job),
        "method": job.method,
        "hyperparameters": hp.model_dump(),
        "resume_from_checkpoint": job.config.get("resume_from_checkpoint"),
    }
    argv, env = build_launch(write_config(run_dir, config), hp, python=sys.executable)
    return RunSpec(argv=argv, env=env, config=config)


def module_spec(module: str) -> Callable[[Job, Path], RunSpec]:
    """Kinds whose job config already is the child's config (evaluation, export)."""

    def build(job: Job, run_dir: Path) -> RunSpec:
        config = {**job.config, "job_id": job.id, "run_dir": str(run_dir)}
        path = write_config(run_dir, config)
        return RunSpec(argv=[sys.executable, "-m", module, "--config", str(path)], env={}, config=config)

    return build


SPEC_BUILDERS: dict[str, Callable[[Job, Path], RunSpec]] = {
    JobKind.TRAIN: train_spec,
    JobKind.EVAL: module_spec("worker.evaluation.run"),
    JobKind.EXPORT: module_spec("worker.training.export"),
    JobKind.DATASET_ANALYSIS: module_spec("worker.datasets.analyse"),
    JobKind.SYNTHESIS: lambda job, run_dir: _synthesis_spec()(job, run_dir),
}

# After a child succeeded, in the supervisor's transaction: turn its output files into rows (scores of an
# evaluation, the catalog entry of an export). "module:function" strings, imported when first needed, so a
# kind's hook lives beside the code of that kind and the supervisor stays generic.
SuccessHook = Callable[[Session, Job, Path], None]
SUCCESS_HOOKS: dict[str, str] = {
    JobKind.EVAL: "worker.hooks.evaluation:save_scores",
    JobKind.EXPORT: "worker.hooks.export:register_export",
    JobKind.DATASET_ANALYSIS: "worker.hooks.dataset_analysis:save_analysis",
    JobKind.SYNTHESIS: "app.synthesis.landing:land_job",
}
# Kinds whose cancelled run still leaves something worth keeping (the rows a synthesis run generated).
CANCEL_HOOKS: dict[str, str] = {JobKind.SYNTHESIS: "app.synthesis.landing:land_job"}


def _synthesis_spec() -> Callable[[Job, Path], RunSpec]:
    from worker.synthesis.spec import synthesis_spec  # imports this module: resolved when first used

    return synthesis_spec


def success_hook(kind: str, hooks: dict[str, str] = SUCCESS_HOOKS) -> SuccessHook | None:
    target = hooks.get(kind)
    if target is None:
        return None
    module_name, function = target.split(":")
    return getattr(importlib.import_module(module_name), function)
