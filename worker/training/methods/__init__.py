"""Training methods: each module turns a loaded base model into the model to train.

Contract (docs/CONTRACTS.md, fixed between the core and the method authors): every method module defines

    load_kwargs(hp) -> dict                                   extra from_pretrained kwargs
    prepare(model, hp, *, method_id) -> torch.nn.Module       wrap / freeze; returns the model to train
    training_arguments(hp, run_dir) -> dict                   extra TrainingArguments kwargs

Modules are imported lazily so that asking for LoRA never imports bitsandbytes or deepspeed.
"""

from __future__ import annotations

import importlib
import types

# method id -> module name inside this package. One module may serve several ids (prompt learning).
METHOD_MODULES: dict[str, str] = {
    "lora": "lora",
    "qlora": "qlora",
    "ptuning": "prompt_learning",
    "prefix": "prompt_learning",
    "prompt": "prompt_learning",
    "ia3": "prompt_learning",
    "adapter": "adapter",
    "freeze": "freeze",
    "full": "full",
}


def get_method(name: str) -> types.ModuleType:
    """The module implementing training method ``name``; ValueError naming the known ids otherwise."""
    module = METHOD_MODULES.get(name)
    if module is None:
        raise ValueError(f"unknown training method {name!r}; known methods: {', '.join(METHOD_MODULES)}")
    return importlib.import_module(f"{__name__}.{module}")
