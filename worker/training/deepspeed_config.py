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


class _ZeroChoice(Protocol):
    """The few TrainHyperparameters fields this module reads (keeps it testable with the real model)."""

    precision: str
    zero_stage: int | None
    offload_optimizer: bool
    offload_params: bool


# Values of the course's stage-3 config (same as the Hugging Face DeepSpeed integration docs): 1e9 means
# "no practical limit" for live parameters / reuse distance, i.e. ZeRO-3 prefetches as much as it can.
_STAGE3_LIMIT = 1_000_000_000


def deepspeed_config(hp: _ZeroChoice) -> dict[str, Any]:
    """Return the DeepSpeed config dict for ``hp.zero_stage`` (0-3) with the requested CPU offloads.

    Raises ValueError for a choice DeepSpeed itself would reject later with a less readable message
    (app.jobs.method_rules reports the same to the user as a 422 before launch).
    """
    stage = hp.zero_stage
    if stage is None or stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_stage must be 0, 1, 2 or 3 to build a DeepSpeed config, got {stage!r}")
    if hp.offload_params and stage != 3:
        raise ValueError("offload_params needs zero_stage 3: only ZeRO-3 partitions (so offloads) parameters")
    if hp.offload_optimizer and stage == 0:
        raise ValueError("offload_optimizer needs zero_stage 1, 2 or 3: stage 0 has no partitioned optimizer")

    zero: dict[str, Any] = {
        "stage": stage,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "sub_group_size": _STAGE3_LIMIT,
        "reduce_bucket_size": "auto",
    }
    if hp.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if stage == 3:
        if hp.offload_params:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
        zero.update(
            {
                "stage3_prefetch_bucket_size": "auto",
                "stage3_param_persistence_threshold": "auto",
                "stage3_max_live_parameters": _STAGE3_LIMIT,
                "stage3_max_reuse_distance": _STAGE3_LIMIT,
                # Without this, save_model under ZeRO-3 writes empty shards: the full weights only exist
                # gathered across ranks.
                "stage3_gather_16bit_weights_on_model_save": True,
            }
        )

    return {
        # "auto" lets the HF integration copy --fp16 / --bf16 from TrainingArguments, so the precision the
        # user picked is the only source of truth.
        "fp16": {
            "enabled": "auto",
            "loss_scale": 0,
            "loss_scale_window": 1000,
            "initial_scale_power": 16,
            "hysteresis": 2,
            "min_loss_scale": 1,
        },
        "bf16": {"enabled": "auto"},
        "zero_optimization": zero,
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "steps_per_print": 2000,
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "wall_clock_breakdown": False,
    }


def write_deepspeed_config(hp: _ZeroChoice, run_dir: Path) -> Path:
    """Write ``run_dir/deepspeed_config.json``; return its path (for TrainingArguments(deepspeed=...))."""
    path = Path(run_dir) / "deepspeed_config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(deepspeed_config(hp), indent=2) + "\n", encoding="utf-8")
    return path
