"""The new fine-tune form: which fields it shows, and turning its strings back into typed values."""

from __future__ import annotations

from typing import Any

from app.jobs.hyperparameters import field_help

# The spine's names first (the course's TrainingArguments names); everything else sits under "Advanced".
BASIC_FIELDS = (
    "num_train_epochs",
    "max_steps",
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
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "seed",
)


def form_sections() -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    help_ = field_help()
    basic = [(name, help_[name]) for name in BASIC_FIELDS if name in help_]
    advanced = [(name, spec) for name, spec in help_.items() if name not in BASIC_FIELDS]
    return basic, advanced


def parse_hyperparameters(form: dict[str, str]) -> dict[str, Any]:
    """Only fields the user changed from the default travel; pydantic validates the values themselves."""
    values: dict[str, Any] = {}
    for name, spec in field_help().items():
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
