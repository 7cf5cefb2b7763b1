"""LoRA (Hu et al. 2021, arXiv 2106.09685) through peft: low-rank adapters on the chosen linear layers."""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import PreTrainedModel

from app.jobs.hyperparameters import TrainHyperparameters
from worker.training.methods.base import resolve_target_modules


def load_kwargs(hp: TrainHyperparameters) -> dict:
    # The frozen base in the compute dtype, LoRA weights in fp32 (get_peft_model's autocast_adapter_dtype).
    from worker.training.methods.full import base_load_kwargs

    return base_load_kwargs(hp, "lora")


def prepare(model: PreTrainedModel, hp: TrainHyperparameters, *, method_id: str) -> torch.nn.Module:
    if method_id != "lora":
        raise ValueError(f"the lora module does not serve method {method_id!r}")
    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=resolve_target_modules(model, hp.lora_target_modules),
    )
    if hp.gradient_checkpointing:
        # With a frozen embedding no input requires grad, and checkpointed blocks would then get no
        # gradient at all; this hook makes the embedding output require grad.
        model.enable_input_require_grads()
    return get_peft_model(model, config)


def training_arguments(hp: TrainHyperparameters, run_dir: Path) -> dict:
    # DeepSpeed / multi-process extras are shared by every method (LoRA + ZeRO-2/3 works: STACK-NOTES).
    from worker.training.methods.full import distributed_arguments

    return distributed_arguments(hp, run_dir)
