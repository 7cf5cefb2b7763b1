"""LoRA (Hu et al. 2021, arXiv 2106.09685) through peft: low-rank adapters on the chosen linear layers."""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import PreTrainedModel

from app.jobs.hyperparameters import TrainHyperparameters
from worker.training.methods.base import resolve_target_modules


def load_kwargs(hp: TrainHyperparameters) -> dict:
    # pure_bf16 keeps the weights themselves in bf16; every other precision loads fp32 master weights
    # (fp16 / bf16 are then mixed precision through autocast in the Trainer).
    return {"dtype": torch.bfloat16 if hp.precision == "pure_bf16" else torch.float32}


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
