"""Training hyperparameters: one flat pydantic model shared by the web app (API validation, form help) and the
training child (which reads ``config.json["hyperparameters"]`` back through it).

PURE: imports nothing but pydantic and the standard library (the web process must not pull in torch).
Names follow Hugging Face ``TrainingArguments`` / peft where one exists, so users can carry recipes over.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

METHODS = ("lora", "qlora", "ptuning", "prefix", "prompt", "ia3", "adapter", "freeze", "full")
# Not a method but a request for one: full fine-tuning for small models when it fits, else LoRA, resolved
# when the job is created (app/planner/method_choice.py); the job records the concrete method.
AUTO_METHOD = "auto"

Precision = Literal["auto", "fp32", "fp16", "bf16", "pure_bf16"]
# Metrics that can rank checkpoints (eval_loss/loss/repetition: lower is better; bleu4: higher).
BEST_METRICS = ("eval_loss", "loss", "repetition", "bleu4")
# Those the quick check measures (worker/evaluation/quick_eval.py): ranking by them needs it at every save.
QUICK_CHECK_METRICS = ("bleu4", "repetition")
SchedulerType = Literal["cosine", "linear", "constant", "constant_with_warmup"]

# Preset name -> (r, alpha). "basic" is the default (r=8, alpha=16); "advanced" doubles both.
LORA_PRESETS: dict[str, tuple[int, int]] = {"basic": (8, 16), "advanced": (16, 32)}


def default_learning_rate(method: str) -> float:
    """The peak learning rate when the user leaves it empty. Adapter methods train fresh, small parameters:
    2e-4 (LLaMA-Factory's and the QLoRA paper's LoRA recipes use 1e-4..2e-4; the issue's bare LoRA script
    2e-4). Full fine-tuning: 2e-4, measured for the demo model on CPsyCoun under the 20-minute budget (63-67
    steps, fp32, 200 held-out dialogues), 2e-4 minus 1e-4: first replies +7.53 [+5.62, +9.49] BLEU-4, later
    replies +0.44 [-0.52, +1.31], a reply drawn uniformly per dialogue +1.28 [+0.38, +2.06] BLEU-4 / +1.59
    [+0.53, +2.57] ROUGE-L (results/quality_lr2_fp32.json, quality_turns_lr2.json); 1e-4 had in turn beaten
    5e-5 (Hugging Face's default) on first replies, +2.68 [+1.26, +4.21] (results/quality_lr.json). A short
    budget is about 1 % of an epoch, far from convergence, where the larger step buys more. 4e-4 tied 2e-4
    (uniformly drawn reply -0.38 [-1.00, +0.26] BLEU-4, results/quality_turns_lr4.json): the smaller of the
    two stays. Freeze tuning keeps 5e-5 (not measured)."""
    if method == "freeze":
        return 5e-5
    return 2e-4


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
    # 0.01 epochs is the smallest run that still means something; 1e-300 would train zero steps.
    num_train_epochs: float = Field(1.0, ge=0.01, le=1000, description="Passes over the training set.")
    max_steps: int = Field(
        -1, ge=-1, le=10_000_000, description="Optimizer steps to run; -1 uses num_train_epochs instead."
    )
    max_train_minutes: float | None = Field(
        None,
        gt=0,
        le=10_080,
        description="Time budget in minutes (empty: none). The run measures its step time after warm-up and "
        "sets the step count so the learning-rate schedule ends on time; max_steps, if set, still caps it.",
    )
    # Defaults decided from measurements on the demo model and the shipped counselling data (issue #12,
    # benchmarks/quality.py): LoRA r16 on all linear layers, batch 4 x 2, 384 tokens learned 4x more BLEU-4
    # per minute than the former r8-attention, batch 2, 512-token defaults; method "auto" (full for small
    # models) and dialogues cut at the limit: results/quality.json and quality_truncate.json.
    per_device_train_batch_size: int = Field(4, ge=1, le=4096, description="Sequences per device per step.")
    gradient_accumulation_steps: int = Field(
        2, ge=1, le=4096, description="Micro-batches summed before each optimizer step."
    )
    learning_rate: float | None = Field(
        None,
        gt=0,
        le=1.0,
        description="Peak learning rate (empty: the method's default, 2e-4 for adapter methods and full "
        "fine-tuning, 5e-5 for freeze fine-tuning).",
    )
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
    save_total_limit: int = Field(
        2,
        ge=1,
        le=1000,
        description="Newest checkpoints kept on disk (older removed; keep_best_k replaces this).",
    )
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Random seed (data order, dropout, init).")
    max_seq_length: int = Field(384, ge=16, le=131_072, description="Tokens per training sequence.")
    precision: Precision = Field(
        "auto",
        description="auto: bf16 on GPUs that have it, fp16 on older GPUs, on a CPU whatever the worker "
        "measured faster (fp32 unless bf16 wins); fp32; fp16 (mixed, dynamic loss scaling); bf16 (mixed); "
        "pure_bf16 (weights in bf16). Adapter methods keep the frozen base in the 16-bit dtype and "
        "train fp32 adapters; full fine-tuning keeps fp32 master weights unless pure_bf16.",
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations to save memory (slower).")
    packing: bool = Field(
        True,
        description="Padding-free batches where exact: several examples per row, best-fit packed, each "
        "restarting its position ids (flash-attention varlen on GPUs); models or methods where that is not "
        "exact (P-tuning, prefix, prompt tuning) get length-grouped batches instead. Off: one example per "
        "row, padded.",
    )
    # On by default (issue #12, measured): a counselling model answers every turn, and cutting dialogues at
    # the limit (LLaMA-Factory's cutoff_len) trains only their openings (27 % of CPsyCoun's replies at 384
    # tokens). Full fine-tune of the demo model, lr 1e-4, 20 minutes each, 200 held-out dialogues, windows
    # minus cutting: first replies -3.19 [-4.97, -1.40] BLEU-4 / -2.16 [-3.84, -0.43] ROUGE-L
    # (results/quality_first_windows.json), later replies +3.50 [+2.67, +4.36] / +4.77 [+3.50, +6.03]
    # (results/quality_later.json; cutting was within the interval of the untuned model on BLEU-4), a reply
    # drawn uniformly per dialogue +2.59 [+1.88, +3.34] / +3.82 [+2.70, +4.96] (results/quality_turns.json).
    split_long_dialogues: bool = Field(
        True,
        description="Split dialogues longer than max_seq_length into windows that each end on an assistant "
        "turn, so every reply is trained once with the recent context that fits (the default). Off: cut them "
        "at the limit, which trains only their opening turns (slightly better first replies, much weaker "
        "later ones).",
    )
    # 1 by default (issue #12, measured): full fine-tune of the demo model, 20 minutes each, bf16, 200
    # held-out dialogues, weight 3 minus 1: first replies +5.83 BLEU-4 (22.54 vs 16.71), later replies
    # -2.33 (4.09 vs 6.42), a reply drawn uniformly per dialogue -1.28 [-2.11, -0.46] BLEU-4 / -1.06
    # [-2.15, +0.04] ROUGE-L (results/quality_opening.json, _later, quality_turns_opening.json). A trade,
    # not a free gain: weight 3 ties the bare full fine-tune on first replies (22.54 vs 22.25), weight 1 is
    # 5.5 BLEU-4 behind it there and 2.1 ahead over whole dialogues. Raise it when first replies matter most.
    opening_weight: int = Field(
        1,
        ge=1,
        le=8,
        description="How many times the opening window of each dialogue split into windows (the window "
        "that trains its first replies) is trained per epoch; its later windows train once. Every chat with "
        "the served model starts with an opening, while windows make it one example in six of a long "
        "dialogue's. 1 (the default): every window counts the same, best over whole dialogues; 3 gave "
        "clearly better first replies and weaker later ones on counselling dialogues.",
    )
    # Off by default (issue #12, measured): LLaMA-Factory's train_on_prompt, off there too; the bare scripts
    # the studio is measured against train every token of the row. Full fine-tune of the demo model, 20
    # minutes each (fp32, 24 vs 23 steps on a CPU without bf16), 200 held-out dialogues, on minus off, first
    # replies: BLEU-4 -0.63 [-1.41, +0.10], ROUGE-L -2.68 [-4.35, -0.87] (results/quality_prompt.json).
    train_on_prompt: bool = Field(
        False,
        description="Train on the user turns too, not only on the assistant replies: the loss then also "
        "covers how clients write (each user turn once, with the reply it leads to; the system prompt with "
        "a dialogue's opening). Off (the default): only the replies are learned; on counselling dialogues "
        "that gave the better first replies.",
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
    lora_r: int = Field(16, ge=1, le=1024, description="LoRA rank r.")
    lora_alpha: int = Field(32, ge=1, le=4096, description="LoRA alpha (scaling = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    lora_target_modules: str = Field(
        "all-linear",
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
        1,
        ge=0,
        le=10_000,
        description="Run a quick generation check every N checkpoints when the dataset has a validation "
        "split (0: off). The loss collapse watch runs on every logged step regardless.",
    )
    quick_eval_samples: int = Field(
        8, ge=1, le=1000, description="Validation rows the quick check generates for."
    )
    collapse_action: Literal["flag", "pause", "stop"] = Field(
        "pause",
        description="When the loss turns non-finite, spikes or diverges (or the quick check sees collapsed "
        "output): pause saves a checkpoint and stops so the job can be resumed; stop ends it; flag only "
        "records the event.",
    )
    keep_best_k: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Keep the K best checkpoints by metric_for_best on disk, plus the newest (resume needs "
        "it); replaces save_total_limit. Empty: keep the newest save_total_limit.",
    )
    metric_for_best: Literal["eval_loss", "loss", "repetition", "bleu4"] = Field(
        "eval_loss",
        description="Ranks checkpoints, each by its own step: eval_loss (validation loss, evaluated at every "
        "save), loss (mean training loss since the previous save), repetition (quick check): lower is "
        "better; bleu4 (quick check): higher.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads true as 1: "max_steps": true would train one step. Refuse it here.
        if isinstance(value, bool):
            annotation = cls.model_fields[info.field_name].annotation
            if annotation is not bool and bool not in typing.get_args(annotation):
                raise ValueError(f"expected a number, got {str(value).lower()}")
        return value

    @field_validator("max_steps")
    @classmethod
    def _steps_positive_or_unset(cls, value: int) -> int:
        if value == 0:
            raise ValueError("0 steps trains nothing; give a positive number, or -1 to use num_train_epochs")
        return value

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
        self._check_checkpoint_ranking()
        # Rules across fields that need the method or the device (offload x ZeRO stage, precision x device)
        # live once, in app/jobs/method_rules.py.
        return self

    def _check_checkpoint_ranking(self) -> None:
        """Every checkpoint kept by keep_best_k is ranked by a value of its own step (worker/training/
        best_checkpoints.py): settings that leave checkpoints without one are refused, not silently
        ranked by an older step's number."""
        if not self.keep_best_k:
            return
        if self.metric_for_best in QUICK_CHECK_METRICS and self.quick_eval_every_n_checkpoints != 1:
            raise ValueError(
                f"keep_best_k ranks checkpoints by {self.metric_for_best}, which the quick check measures: "
                f"set quick_eval_every_n_checkpoints to 1 (it is {self.quick_eval_every_n_checkpoints}), "
                "or rank by eval_loss or loss"
            )
        if self.metric_for_best == "eval_loss" and self.eval_steps and self.save_steps % self.eval_steps:
            raise ValueError(
                f"keep_best_k ranks checkpoints by eval_loss, so every save needs its own evaluation: "
                f"save_steps ({self.save_steps}) must be a multiple of eval_steps ({self.eval_steps}), "
                "or leave eval_steps empty to evaluate at every save"
            )


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


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """`--hp NAME=VALUE` pairs (ftstudio submit and ftstudio plan) -> a hyperparameters dict; VALUE is read
    as JSON when it is JSON (numbers, true/false, null), else as a string. ValueError names a bad pair."""
    import json

    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"'{pair}' is not NAME=VALUE")
        try:
            values[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[name.strip()] = raw
    return values


def job_spec_from_json(document: Any) -> tuple[str | None, dict[str, Any]]:
    """(method, hyperparameters) from a job file: a POST /api/v1/jobs body, a job as GET /api/v1/jobs/{id}
    returns it (its "config"), or the run's config.json. ValueError when it has none of these shapes."""
    if isinstance(document, dict) and isinstance(document.get("config"), dict):
        document = document["config"]
    if not isinstance(document, dict) or not isinstance(document.get("hyperparameters", {}), dict):
        raise ValueError('expected a JSON object with "method" and "hyperparameters" (a job or its config)')
    method = document.get("method")
    return (str(method) if method is not None else None), dict(document.get("hyperparameters") or {})
