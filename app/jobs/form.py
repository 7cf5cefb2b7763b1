"""The new fine-tune form: which fields each method shows, and turning its strings back into typed values."""

from __future__ import annotations

from typing import Any

from app.jobs.hyperparameters import LORA_PRESETS, METHODS, field_help

# The spine's names first (the course's TrainingArguments names); everything else sits under "Advanced".
BASIC_FIELDS = (
    "num_train_epochs",
    "max_steps",
    "max_train_minutes",
    "learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_seq_length",
    "warmup_steps",
    "lr_scheduler_type",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "num_virtual_tokens",
    "adapter_bottleneck_size",
    "freeze_trainable_layers",
    "quant_bits",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "seed",
)

_LORA = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_preset")

# Method -> the fields only that method reads (worker/training/methods/*); a field in no list is common.
# DeepSpeed (zero_stage, offload_*, num_processes) is common: every method trains under ZeRO-3 and QLoRA
# under ZeRO-2/3 (measured, app/jobs/method_rules.py), so no method hides it.
METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    "lora": _LORA,
    "qlora": (*_LORA, "quant_bits", "double_quant", "bnb_compute_dtype"),
    "ptuning": ("num_virtual_tokens", "encoder_reparameterization_type", "encoder_hidden_size"),
    "prefix": ("num_virtual_tokens",),
    "prompt": ("num_virtual_tokens",),
    "ia3": (),
    "adapter": ("adapter_bottleneck_size", "adapter_non_linearity"),
    "freeze": ("freeze_trainable_layers",),
    "full": (),
}
# Common fields a method cannot use: prefix tuning fails under gradient checkpointing (method_rules.py).
METHOD_EXCLUDES: dict[str, tuple[str, ...]] = {"prefix": ("gradient_checkpointing",)}

METHOD_LABELS: dict[str, str] = {
    "auto": "Auto (recommended): full fine-tuning for small models when it fits, else LoRA",
    "lora": "LoRA",
    "qlora": "QLoRA (4/8-bit base + LoRA)",
    "ptuning": "P-tuning",
    "prefix": "Prefix tuning",
    "prompt": "Prompt tuning",
    "ia3": "IA3",
    "adapter": "Adapter (bottleneck)",
    "freeze": "Freeze (train the last layers)",
    "full": "Full fine-tuning",
}

# lora_target_modules presets; worker/training/methods/base.py resolves them on the loaded model by the
# parent module of each linear layer, so one name fits every architecture.
TARGET_PRESETS: dict[str, str] = {
    "attention": "attention: q_proj,k_proj,v_proj,o_proj (Qwen, LLaMA); query_key_value (ChatGLM, BLOOM); "
    "W_pack,o_proj (Baichuan)",
    "attention+mlp": "attention + MLP: also gate_proj,up_proj,down_proj (Qwen, LLaMA)",
    "all-linear": "all linear layers except the output head",
}


def _specific_fields() -> set[str]:
    return {name for fields in METHOD_FIELDS.values() for name in fields}


def field_methods(name: str) -> tuple[str, ...] | None:
    """The methods that show field ``name``; None when every method shows it."""
    excluded = {m for m, fields in METHOD_EXCLUDES.items() if name in fields}
    if name in _specific_fields():
        return tuple(m for m in METHODS if name in METHOD_FIELDS.get(m, ()) and m not in excluded)
    if excluded:
        return tuple(m for m in METHODS if m not in excluded)
    return None


def method_uses(method: str, name: str) -> bool:
    methods = field_methods(name)
    return methods is None or method in methods


def _spec(name: str, help_: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {**help_[name], "methods": field_methods(name)}


def form_sections() -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """(basic, advanced) lists of (name, spec); spec["methods"] is what data-methods renders."""
    help_ = field_help()
    basic = [(name, _spec(name, help_)) for name in BASIC_FIELDS if name in help_]
    advanced = [(name, _spec(name, help_)) for name in help_ if name not in BASIC_FIELDS]
    return basic, advanced


def lora_preset_buttons() -> list[tuple[str, dict[str, int]]]:
    """The course's two presets as form fills: basic r=8/alpha=16, advanced r=16/alpha=32."""
    return [(name, {"lora_r": r, "lora_alpha": alpha}) for name, (r, alpha) in LORA_PRESETS.items()]


def parse_hyperparameters(form: dict[str, str]) -> dict[str, Any]:
    """Only fields the user changed from the default travel; pydantic validates the values themselves.

    Fields of other methods are dropped even if a client sent them (a page without JavaScript sends every
    field; an unchecked box of a hidden field must not read as "turned off")."""
    method = form.get("method") or ""
    values: dict[str, Any] = {}
    for name, spec in field_help().items():
        if method in METHODS and not method_uses(method, name):
            continue
        kind = spec.get("type")
        if kind == "bool":
            checked = form.get(name) in ("on", "true", "1")
            if checked != bool(spec.get("default")):
                values[name] = checked
            continue
        raw = (form.get(name) or "").strip()
        if raw == "" or raw == str(spec.get("default")):
            continue
        if kind == "int":
            values[name] = _number(raw, int)
        elif kind == "float":
            values[name] = _number(raw, float)
        else:
            values[name] = raw
    return values


def _number(raw: str, cast: type) -> Any:
    try:
        return cast(float(raw)) if cast is int and float(raw).is_integer() else cast(raw)
    except ValueError:
        return raw  # pydantic names the field and says it is not a number


def template_globals() -> dict[str, Any]:
    """What templates/jobs/new.html reads beyond the view's context (registered as Jinja globals by
    app/exports/views.py, so the lead's view needs no change): method labels, LoRA and target presets."""
    return {
        "method_labels": METHOD_LABELS,
        "lora_preset_buttons": lora_preset_buttons(),
        "target_presets": TARGET_PRESETS,
    }


def clone_context(job: Any) -> dict[str, Any]:
    """What /jobs/new?clone_from=ID fills in from a training job: its dataset (and version), base model,
    method, name and EVERY hyperparameter value of its config (all of them, so later default changes do
    not silently change the clone)."""
    config = job.config or {}
    dataset = config.get("dataset") or {}
    base = config.get("base_model") or {}
    return {
        "selected_dataset": dataset.get("id"),
        "selected_version": dataset.get("version"),
        "selected_model": base.get("id"),
        "selected_method": config.get("method") or job.method,
        "selected_name": f"{job.name or f'job {job.id}'} (copy)",
        "values": dict(config.get("hyperparameters") or {}),
        "cloned_from": job.id,
    }
