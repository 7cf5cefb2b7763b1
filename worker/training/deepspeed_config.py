"""DeepSpeed ZeRO configuration generated from the planner's choice (hyperparameters).

The layout follows the course's ``deepspeed_config.json`` (the Hugging Face integration's stage-3 example):
every size the Trainer knows is left as ``"auto"`` so the Trainer fills it in from TrainingArguments, and a
config can never disagree with the batch size or precision the user chose.

Pure: no torch import, so the web app could render the file for a preview as well.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from app.planner.deepspeed import deepspeed_json


class _ZeroChoice(Protocol):
    """The few TrainHyperparameters fields this module reads (keeps it testable with the real model)."""

    precision: str
    zero_stage: int | None
    offload_optimizer: bool
    offload_params: bool


def deepspeed_config(hp: _ZeroChoice) -> dict[str, Any]:
    """Return the DeepSpeed config dict for ``hp.zero_stage`` (0-3) with the requested CPU offloads.

    Raises ValueError for a choice DeepSpeed itself would reject later with a less readable message
    (app.jobs.method_rules reports the same to the user as a 422 before launch).
    """
    from app.jobs.method_rules import deepspeed_problems

    stage = hp.zero_stage
    if stage is None or stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_stage must be 0, 1, 2 or 3 to build a DeepSpeed config, got {stage!r}")
    problems = deepspeed_problems(stage, hp.offload_optimizer, hp.offload_params)
    if problems:
        raise ValueError(f"{problems[0][0]}: {problems[0][1]}")

    # One generator for the planner and the child: a job launched from a recommendation runs exactly the
    # configuration that was planned. (The stage-3 gather-on-save key matters: without it save_model under
    # ZeRO-3 writes empty shards; "auto" precision blocks let TrainingArguments stay the only source.)
    return deepspeed_json(stage, offload_optimizer=hp.offload_optimizer, offload_params=hp.offload_params)


def write_deepspeed_config(hp: _ZeroChoice, run_dir: Path) -> Path:
    """Write ``run_dir/deepspeed_config.json``; return its path (for TrainingArguments(deepspeed=...))."""
    path = Path(run_dir) / "deepspeed_config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(deepspeed_config(hp), indent=2) + "\n", encoding="utf-8")
    return path
