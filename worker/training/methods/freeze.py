"""Freeze tuning: only the last k transformer layers train (a cheap middle ground between LoRA and full).

Which layers: the decoder layers are the longest ``nn.ModuleList`` of blocks in the model (``model.layers``
for Llama/Qwen2/Mistral/Baichuan, ``transformer.h`` for GPT-2/bloom, ``transformer.encoder.layers`` for
ChatGLM), so no per-architecture table is needed. As in LLaMA-Factory's freeze tuning, the last layers are
chosen: they are the most task-specific, and gradients then stop early in backward (cheaper).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from app.jobs.hyperparameters import TrainHyperparameters


def load_kwargs(hp: TrainHyperparameters) -> dict[str, Any]:
    """The base model loads as for LoRA and full fine-tuning (dtype from the precision)."""
    from worker.training.methods.full import base_load_kwargs

    return base_load_kwargs(hp, "freeze")


def decoder_layers(model: torch.nn.Module) -> tuple[str, torch.nn.ModuleList]:
    """``(qualified name, ModuleList)`` of the model's repeated blocks: the longest ModuleList in it."""
    import torch

    best: tuple[str, torch.nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if (
            isinstance(module, torch.nn.ModuleList)
            and len(module) > 0
            and (best is None or len(module) > len(best[1]))
        ):
            best = (name, module)
    if best is None:
        raise ValueError(
            f"found no list of transformer layers in {type(model).__name__}; freeze tuning needs one"
        )
    return best


def prepare(model: PreTrainedModel, hp: TrainHyperparameters, *, method_id: str) -> torch.nn.Module:
    """Freeze every parameter except those of the last ``hp.freeze_trainable_layers`` layers."""
    _, layers = decoder_layers(model)
    k = hp.freeze_trainable_layers
    if k > len(layers):
        raise ValueError(
            f"freeze_trainable_layers is {k} but the model has only {len(layers)} layers; "
            f"choose 1 to {len(layers)} (or full fine-tuning to train everything)"
        )
    for param in model.parameters():
        param.requires_grad_(False)
    for layer in list(layers)[-k:]:
        for param in layer.parameters():
            param.requires_grad_(True)
    if hp.gradient_checkpointing:
        # Frozen embeddings give inputs without grad; re-entrant checkpointing would then cut the graph.
        model.enable_input_require_grads()
    return model


def training_arguments(hp: TrainHyperparameters, run_dir: Path) -> dict[str, Any]:
    from worker.training.methods.full import distributed_arguments

    return distributed_arguments(hp, run_dir)
