"""Helpers shared by the method modules: which linear layers a spec such as "attention" names."""

from __future__ import annotations

import torch

# Parent-module names under which a linear layer counts as attention, across HF architectures
# (Llama/Qwen/Mistral "self_attn", GPT-2 "attn", Bloom/ChatGLM "self_attention", BERT-likes "attention").
ATTENTION_PARENTS = frozenset({"self_attn", "attn", "attention", "self_attention", "cross_attn"})
PRESETS = ("all-linear", "attention", "attention+mlp")


def _is_linear(module: torch.nn.Module) -> bool:
    """nn.Linear, GPT-2's Conv1D and bitsandbytes' quantised linears (which subclass nn.Linear)."""
    return isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"


def linear_layer_names(model: torch.nn.Module) -> tuple[list[str], list[str]]:
    """Suffixes of the model's linear layers, split into (attention, other), output head excluded.

    A suffix is the layer's own name ("q_proj"), or "parent.name" when the same name is used both inside
    and outside attention (GPT-2's "c_proj"), because peft matches target modules by name suffix.
    """
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    attention: dict[str, set[str]] = {}
    other: dict[str, set[str]] = {}
    for path, module in model.named_modules():
        if not path or not _is_linear(module) or module is output:
            continue
        parts = path.split(".")
        in_attention = any(part in ATTENTION_PARENTS for part in parts[:-1])
        bucket = attention if in_attention else other
        bucket.setdefault(parts[-1], set()).add(".".join(parts[-2:]))
    shared = attention.keys() & other.keys()

    def suffixes(bucket: dict[str, set[str]]) -> list[str]:
        names: set[str] = set()
        for name, qualified in bucket.items():
            names |= qualified if name in shared else {name}
        return sorted(names)

    return suffixes(attention), suffixes(other)


def resolve_target_modules(model: torch.nn.Module, spec: str) -> list[str]:
    """Target-module names for peft from a preset ("all-linear", "attention", "attention+mlp") or comma list.

    "attention+mlp" equals "all-linear" on decoder-only models (both exclude the output head); it is kept
    as a separate, self-describing preset for the form. A comma list is checked against the model so a typo
    fails before training starts, with the names that do exist.
    """
    attention, other = linear_layer_names(model)
    spec = spec.strip()
    if spec == "attention":
        if not attention:
            raise ValueError(
                "this model has no linear layers under an attention block; list target modules by name"
            )
        return attention
    if spec in ("all-linear", "attention+mlp"):
        return sorted(set(attention) | set(other))
    wanted = [name.strip() for name in spec.split(",") if name.strip()]
    if not wanted:
        raise ValueError(f"lora_target_modules is empty; use one of {', '.join(PRESETS)} or a comma list")
    known = set(attention) | set(other)
    leaf_names = {name.split(".")[-1] for name in known}
    missing = [name for name in wanted if name not in known and name not in leaf_names]
    if missing:
        raise ValueError(
            f"lora_target_modules: no linear layer named {', '.join(missing)} in this model; "
            f"its linear layers are {', '.join(sorted(known))}"
        )
    return wanted
