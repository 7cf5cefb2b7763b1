"""Full fine-tuning: every parameter trains; DeepSpeed ZeRO 0-3 (with CPU offloads) when chosen.

``distributed_arguments`` is also what the PEFT methods return from ``training_arguments``, so LoRA and the
others get the same DeepSpeed handling (LoRA + ZeRO-2/3 works on this stack: ../shared/STACK-NOTES.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.training.deepspeed_config import write_deepspeed_config

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from app.jobs.hyperparameters import TrainHyperparameters


def base_load_kwargs(hp: TrainHyperparameters, method: str = "full") -> dict[str, Any]:
    """The load dtype of every method, from the one rule (app/jobs/trainer_args.load_dtype, which the
    planner models): adapter methods load the frozen base in the compute dtype (bf16 / fp16) and PEFT keeps
    the adapters in fp32 (autocast_adapter_dtype); full / freeze keep fp32 master weights under mixed
    precision; pure_bf16 loads bf16. ``hp.precision`` is already resolved (not "auto") in the child."""
    import torch

    from app.jobs.trainer_args import load_dtype

    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    return {"dtype": dtypes[load_dtype(method, hp.precision)]}


def load_kwargs(hp: TrainHyperparameters) -> dict[str, Any]:
    return base_load_kwargs(hp, "full")


def prepare(model: PreTrainedModel, hp: TrainHyperparameters, *, method_id: str) -> torch.nn.Module:
    """Make every parameter trainable (a checkpoint may come with some frozen) and return the model."""
    for param in model.parameters():
        param.requires_grad_(True)
    return model


def distributed_arguments(hp: TrainHyperparameters, run_dir: Path) -> dict[str, Any]:
    """TrainingArguments extras for DeepSpeed and several processes.

    - ``deepspeed``: path of run_dir/deepspeed_config.json when a zero_stage is chosen.
    - ``use_cpu=True`` on a machine without CUDA whenever a launcher runs: with 2 processes accelerate
      otherwise believes there is 1 process, and ``train_batch_size: "auto"`` fails (``8 != 8 * 1 * 2``) or
      both ranks silently train on the same batches (measured, STACK-NOTES).
    """
    import torch

    extra: dict[str, Any] = {}
    if hp.zero_stage is not None:
        extra["deepspeed"] = str(write_deepspeed_config(hp, run_dir))
    if (hp.zero_stage is not None or hp.num_processes > 1) and not torch.cuda.is_available():
        extra["use_cpu"] = True
    if hp.num_processes > 1 and not torch.cuda.is_available():
        extra["ddp_backend"] = "gloo"
    return extra


def training_arguments(hp: TrainHyperparameters, run_dir: Path) -> dict[str, Any]:
    return distributed_arguments(hp, run_dir)
