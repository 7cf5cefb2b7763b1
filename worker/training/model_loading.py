"""Loading the base model and tokenizer through the normal from_pretrained path (local folder or hub id)."""

from __future__ import annotations

import types
from typing import Any

from app.jobs.hyperparameters import TrainHyperparameters
from worker.safe_loading import weight_kwargs
from worker.training.config import BaseModelSpec, ConfigError


def _common_kwargs(spec: BaseModelSpec) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if spec.gguf_file:
        kwargs["gguf_file"] = spec.gguf_file
    return kwargs


def load_tokenizer(spec: BaseModelSpec) -> Any:
    """The model's tokenizer, with a pad token (eos when the model has none: labels mask the padding)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.path, **_common_kwargs(spec))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"could not load the tokenizer of base model {spec.path!r}: {exc}") from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(f"the tokenizer of {spec.path!r} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: BaseModelSpec, method: types.ModuleType, hp: TrainHyperparameters, **extra: Any) -> Any:
    """AutoModelForCausalLM.from_pretrained(path, gguf_file, trust_remote_code, **method.load_kwargs, **extra)
    (extra: e.g. attn_implementation for the padding-free flash-attention path)."""
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(
            spec.path,
            **weight_kwargs(gguf_file=spec.gguf_file, trust_remote_code=spec.trust_remote_code),
            **method.load_kwargs(hp),
            **extra,
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"could not load base model {spec.path!r}: {exc}") from None
    # The KV cache only helps generation; during training it costs memory and clashes with checkpointing.
    model.config.use_cache = False
    return model
