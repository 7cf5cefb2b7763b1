"""Training hyperparameters: one flat pydantic model shared by the web app (API validation, form help) and the
training child (which reads ``config.json["hyperparameters"]`` back through it).

PURE: imports nothing but pydantic and the standard library (the web process must not pull in torch).
Names follow Hugging Face ``TrainingArguments`` / peft where one exists, so users can carry recipes over.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

METHODS = ("lora", "qlora", "ptuning", "prefix", "prompt", "ia3", "adapter", "freeze", "full")

Precision = Literal["fp32", "fp16", "bf16", "pure_bf16"]
SchedulerType = Literal["cosine", "linear", "constant", "constant_with_warmup"]

# Preset name -> (r, alpha). "basic" is the default (r=8, alpha=16); "advanced" doubles both.
LORA_PRESETS: dict[str, tuple[int, int]] = {"basic": (8, 16), "advanced": (16, 32)}

# Optimizers accepted by TrainingArguments(optim=...) that make sense here (8-bit ones need bitsandbytes).
OPTIMIZERS = (
    "adamw_torch",
    "adamw_torch_fused",
    "adafactor",
    "sgd",
    "adamw_8bit",
    "adamw_bnb_8bit",
    "paged_adamw_8bit",
    "paged_adamw_32bit",
    "lion_8bit",
    "paged_lion_8bit",
)


class TrainHyperparameters(BaseModel):
    """Every knob of a training run. Every field has a default, a description (form help) and bounds."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- schedule and batch -------------------------------------------------------------------------------
    num_train_epochs: float = Field(1.0, gt=0, le=1000, description="Passes over the training set.")
    max_steps: int = Field(
        -1, ge=-1, le=10_000_000, description="Optimizer steps to run; -1 uses num_train_epochs instead."
    )
    per_device_train_batch_size: int = Field(2, ge=1, le=4096, description="Sequences per device per step.")
    gradient_accumulation_steps: int = Field(
        1, ge=1, le=4096, description="Micro-batches summed before each optimizer step."
    )
    learning_rate: float = Field(2e-4, gt=0, le=1.0, description="Peak learning rate.")
    weight_decay: float = Field(0.0, ge=0, le=1.0, description="AdamW weight decay.")
    max_grad_norm: float = Field(
        1.0, ge=0, le=1e6, description="Gradient clipping norm (0 disables clipping)."
    )
    warmup_steps: int = Field(0, ge=0, le=1_000_000, description="Steps of linear learning-rate warmup.")
    lr_scheduler_type: SchedulerType = Field("cosine", description="Learning-rate schedule after warmup.")
    logging_steps: int = Field(
        1, ge=1, le=1_000_000, description="Write a training metrics line every N steps."
    )
    eval_steps: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="Evaluate every N steps (empty: once per epoch when a split exists).",
    )
    save_steps: int = Field(50, ge=1, le=1_000_000, description="Save a checkpoint every N steps.")
    save_total_limit: int = Field(2, ge=1, le=1000, description="Checkpoints kept on disk (oldest removed).")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Random seed (data order, dropout, init).")
    max_seq_length: int = Field(512, ge=16, le=131_072, description="Tokens per training sequence.")
    precision: Precision = Field(
        "fp32",
        description="fp32; fp16 (mixed, dynamic loss scaling); bf16 (mixed); pure_bf16 (weights in bf16).",
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations to save memory (slower).")
    packing: bool = Field(False, description="Pack several short examples into one sequence.")
    split_long_dialogues: bool = Field(
        True,
        description="Split dialogues longer than max_seq_length into windows that each end on an assistant "
        "turn, instead of cutting them at the limit.",
    )
    chat_template: Literal["auto", "chatml", "baichuan2", "llama2", "llama3", "chatglm3"] = Field(
        "auto",
        description="Conversation format: auto uses the model's own chat template (a guessed fallback "
        "for base models without one); a name forces that fallback template.",
    )
    # Hugging Face's own default on torch >= 2.8 (TrainingArguments): one kernel for all parameters, no
    # full-size temporaries; also what the planner assumes.
    optim: str = Field("adamw_torch_fused", description=f"Optimizer: one of {', '.join(OPTIMIZERS)}.")

    # --- LoRA / QLoRA --------------------------------------------------------------------------------------
    lora_r: int = Field(8, ge=1, le=1024, description="LoRA rank r.")
    lora_alpha: int = Field(16, ge=1, le=4096, description="LoRA alpha (scaling = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    lora_target_modules: str = Field(
        "attention",
        min_length=1,
        max_length=1000,
        description='Modules to adapt: "all-linear", "attention", "attention+mlp", or a comma list of names.',
    )
    lora_preset: Literal["basic", "advanced"] | None = Field(
        None, description="basic: r=8, alpha=16; advanced: r=16, alpha=32 (overrides lora_r and lora_alpha)."
    )
    quant_bits: Literal[4, 8] = Field(4, description="QLoRA: quantise the base model to 4 or 8 bits.")
    double_quant: bool = Field(True, description="QLoRA: also quantise the quantisation constants.")
    bnb_compute_dtype: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="QLoRA compute dtype.")

    # --- prompt learning / adapters / freeze ---------------------------------------------------------------
    num_virtual_tokens: int = Field(
        20, ge=1, le=1024, description="P-tuning / prefix / prompt: virtual tokens."
    )
    encoder_reparameterization_type: Literal["MLP", "LSTM"] = Field(
        "MLP", description="P-tuning prompt encoder."
    )
    encoder_hidden_size: int = Field(128, ge=1, le=65_536, description="P-tuning encoder hidden size.")
    adapter_bottleneck_size: int = Field(64, ge=1, le=65_536, description="Adapter bottleneck width.")
    adapter_non_linearity: Literal["relu", "gelu", "silu"] = Field("relu", description="Adapter activation.")
    freeze_trainable_layers: int = Field(
        2, ge=1, le=1024, description="Freeze tuning: how many of the last layers are trained."
    )

    # --- distributed ---------------------------------------------------------------------------------------
    zero_stage: int | None = Field(
        None, ge=0, le=3, description="DeepSpeed ZeRO stage (empty: no DeepSpeed)."
    )
    offload_optimizer: bool = Field(False, description="DeepSpeed: keep optimizer state in CPU memory.")
    offload_params: bool = Field(False, description="DeepSpeed ZeRO-3: keep parameters in CPU memory.")
    num_processes: int = Field(1, ge=1, le=64, description="Training processes (one per GPU).")

    # --- evaluation during training ------------------------------------------------------------------------
    quick_eval_every_n_checkpoints: int = Field(
        0, ge=0, le=10_000, description="Run a quick generation check every N checkpoints (0: off)."
    )
    quick_eval_samples: int = Field(
        8, ge=1, le=1000, description="Validation rows the quick check generates for."
    )
    collapse_action: Literal["flag", "pause", "stop"] = Field(
        "flag", description="What to do when the quick check sees collapsed output."
    )
    keep_best_k: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Keep the K best checkpoints by metric_for_best (empty: keep newest).",
    )
    metric_for_best: str = Field(
        "eval_loss",
        min_length=1,
        max_length=100,
        description="Ranks checkpoints: eval_loss, loss, repetition: lower is better; bleu4: higher.",
    )

    @field_validator("optim")
    @classmethod
    def _known_optimizer(cls, value: str) -> str:
        if value not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {value!r}; choose one of {', '.join(OPTIMIZERS)}")
        return value

    @model_validator(mode="after")
    def _apply_preset_and_check(self) -> TrainHyperparameters:
        if self.optim not in OPTIMIZERS:
            raise ValueError(
                f"optim: unknown optimizer {self.optim!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.lora_preset is not None:
            r, alpha = LORA_PRESETS[self.lora_preset]
            if (self.lora_r, self.lora_alpha) != (r, alpha):
                # object.__setattr__ avoids re-running this validator through validate_assignment.
                object.__setattr__(self, "lora_r", r)
                object.__setattr__(self, "lora_alpha", alpha)
        if self.offload_params and self.zero_stage != 3:
            raise ValueError("offload_params: parameter offload needs zero_stage 3")
        if self.offload_optimizer and self.zero_stage is None:
            raise ValueError("offload_optimizer: optimizer offload needs a DeepSpeed zero_stage")
        return self


def _describe_type(annotation: Any) -> dict[str, Any]:
    """Type name and choices of a field annotation, for the web form."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return {"type": type(args[0]).__name__, "choices": list(args)}
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        info = _describe_type(non_none[0]) if len(non_none) == 1 else {"type": "any"}
        return {**info, "nullable": True}
    return {"type": getattr(annotation, "__name__", str(annotation))}


def field_help() -> dict[str, dict]:
    """name -> {default, description, type, choices?, nullable?, ge/gt/le/lt?} for every hyperparameter."""
    out: dict[str, dict] = {}
    for name, field in TrainHyperparameters.model_fields.items():
        info: dict[str, Any] = {"default": field.default, "description": field.description or ""}
        info.update(_describe_type(field.annotation))
        for meta in field.metadata:
            for bound in ("ge", "gt", "le", "lt", "min_length", "max_length"):
                value = getattr(meta, bound, None)
                if value is not None:
                    info[bound] = value
        if name == "optim":
            info["choices"] = list(OPTIMIZERS)
        out[name] = info
    return out
