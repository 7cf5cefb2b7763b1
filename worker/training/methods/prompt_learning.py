"""Prompt-learning methods through PEFT: P-tuning, prefix tuning, prompt tuning, and IA3.

All four keep the base model frozen and learn a few extra vectors:
- ``ptuning``: virtual prompt tokens produced by a small MLP or LSTM prompt encoder (Liu et al. 2021,
  "GPT Understands, Too"), PEFT ``PromptEncoderConfig``;
- ``prefix``: learned key/value prefixes in every attention layer (Li & Liang 2021), ``PrefixTuningConfig``;
- ``prompt``: learned input embeddings only (Lester et al. 2021), ``PromptTuningConfig``;
- ``ia3``: learned per-channel scales of keys, values and the feed-forward input (Liu et al. 2022, "(IA)^3"),
  ``IA3Config``; PEFT knows the target modules of the common architectures.

The registry maps all four method ids to this module; ``prepare`` dispatches on ``method_id``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from app.jobs.hyperparameters import TrainHyperparameters

METHOD_IDS = ("ptuning", "prefix", "prompt", "ia3")


def load_kwargs(hp: TrainHyperparameters) -> dict[str, Any]:
    """The base model loads as for LoRA and full fine-tuning (dtype from the precision)."""
    from worker.training.methods.full import base_load_kwargs

    return base_load_kwargs(hp, "ptuning")


def peft_config(hp: TrainHyperparameters, method_id: str, model_type: str | None = None) -> Any:
    """The PEFT config for one of the four prompt-learning ids (raises ValueError for any other id)."""
    from peft import IA3Config, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType

    if method_id == "ptuning":
        return PromptEncoderConfig(
            task_type=TaskType.CAUSAL_LM,
            num_virtual_tokens=hp.num_virtual_tokens,
            encoder_reparameterization_type=hp.encoder_reparameterization_type,
            encoder_hidden_size=hp.encoder_hidden_size,
        )
    if method_id == "prefix":
        return PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=hp.num_virtual_tokens)
    if method_id == "prompt":
        return PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=hp.num_virtual_tokens)
    if method_id == "ia3":
        from peft.utils import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as ia3_targets

        if model_type is not None and model_type not in ia3_targets:
            known = ", ".join(sorted(ia3_targets))
            raise ValueError(
                f"IA3 does not know which modules to scale in a {model_type!r} model; "
                f"it supports: {known}. Choose LoRA or another method for this model."
            )
        return IA3Config(task_type=TaskType.CAUSAL_LM)
    raise ValueError(f"prompt_learning handles {', '.join(METHOD_IDS)}, not {method_id!r}")


def prepare(model: PreTrainedModel, hp: TrainHyperparameters, *, method_id: str) -> torch.nn.Module:
    """Wrap ``model`` in a PeftModel for ``method_id``; only the prompt / prefix / IA3 vectors train."""
    from peft import get_peft_model

    config = peft_config(hp, method_id, getattr(model.config, "model_type", None))
    if hp.gradient_checkpointing:
        # The frozen embedding output would not require grad, and re-entrant checkpointing then drops the
        # graph for every layer (no gradient reaches the prompt); this makes the inputs require grad.
        model.enable_input_require_grads()
    return get_peft_model(model, config)


def training_arguments(hp: TrainHyperparameters, run_dir: Path) -> dict[str, Any]:
    """DeepSpeed / multi-process arguments when chosen (shared with the other methods)."""
    from worker.training.methods.full import distributed_arguments

    return distributed_arguments(hp, run_dir)
