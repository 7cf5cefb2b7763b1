"""What a plan launches with: the DeepSpeed JSON (the course's stage-3 layout), HF TrainingArguments and
FT Studio hyperparameters.

The DeepSpeed dict is key-for-key what worker/training/deepspeed_config.py writes for the same choice (a
test checks it), so a job launched from a recommendation runs exactly the configuration that was planned:
sizes the Trainer knows stay "auto" and the HF integration fills them (reduce_bucket_size = hidden^2,
stage3_prefetch_bucket_size = 0.9 hidden^2, stage3_param_persistence_threshold = 10 hidden), which is
what zero.py assumes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .schemas import PlanRequest

if TYPE_CHECKING:
    from .schemas import PlanResult, Recommendation

_STAGE3_LIMIT = 1_000_000_000
OPTIM_NAMES = {
    "adamw": "adamw_torch_fused",
    "adamw-8bit": "adamw_8bit",
    "paged-adamw-8bit": "paged_adamw_8bit",
}
PRECISION_NAMES = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "pure-bf16": "pure_bf16"}


def deepspeed_config(req: PlanRequest) -> dict[str, Any]:
    """The DeepSpeed config for `req.zero` (0-3) with its offloads."""
    stage = req.zero
    if stage is None:
        raise ValueError("zero: no DeepSpeed stage chosen")
    return deepspeed_json(stage, offload_optimizer=req.offload_optimizer, offload_params=req.offload_params)


def deepspeed_json(stage: int, *, offload_optimizer: bool, offload_params: bool) -> dict[str, Any]:
    """The one DeepSpeed config of FT Studio (the course's layout), used by the planner and by the training
    child (worker/training/deepspeed_config.py), so what was planned is what runs."""
    zero: dict[str, Any] = {
        "stage": stage,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "sub_group_size": _STAGE3_LIMIT,
        "reduce_bucket_size": "auto",
    }
    if offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if stage == 3:
        if offload_params:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
        zero.update(
            {
                "stage3_prefetch_bucket_size": "auto",
                "stage3_param_persistence_threshold": "auto",
                "stage3_max_live_parameters": _STAGE3_LIMIT,
                "stage3_max_reuse_distance": _STAGE3_LIMIT,
                "stage3_gather_16bit_weights_on_model_save": True,
            }
        )
    return {
        "fp16": {
            "enabled": "auto",
            "loss_scale": 0,
            "loss_scale_window": 1000,
            "initial_scale_power": 16,
            "hysteresis": 2,
            "min_loss_scale": 1,
        },
        "bf16": {"enabled": "auto"},
        "zero_optimization": zero,
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "steps_per_print": 2000,
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "wall_clock_breakdown": False,
    }


def training_arguments(req: PlanRequest) -> dict[str, Any]:
    """Hugging Face TrainingArguments keyword arguments for this plan: the child's own mapping
    (app/jobs/trainer_args.trainer_kwargs) applied to the plan's hyperparameters, so they cannot differ."""
    from app.jobs.hyperparameters import TrainHyperparameters
    from app.jobs.trainer_args import trainer_kwargs

    values = to_hyperparameters(req)
    method = values.pop("method")
    # model_construct: the planner's searches go beyond a job's bounds (sequence length 1 .. the context)
    hp = TrainHyperparameters.model_construct(**values)
    return trainer_kwargs(method, hp, precision=hp.precision, cuda=req.device == "gpu", has_eval=False)


def to_hyperparameters(plan_or_rec: PlanResult | Recommendation | PlanRequest) -> dict[str, Any]:
    """FT Studio hyperparameter names (app/jobs/hyperparameters.py) for a plan, recommendation or request
    (with "method"; the form's plan panel drops it: a recommendation never changes the user's method)."""
    req = _request_of(plan_or_rec)
    hp: dict[str, Any] = {
        "method": req.method,
        "per_device_train_batch_size": req.micro_batch,
        "gradient_accumulation_steps": req.grad_accum,
        "max_seq_length": req.seq_len,
        "gradient_checkpointing": req.gradient_checkpointing,
        "precision": PRECISION_NAMES.get(req.precision, req.precision),
        "optim": OPTIM_NAMES[req.optimizer],
        "zero_stage": req.zero,
        "offload_optimizer": req.offload_optimizer,
        "offload_params": req.offload_params,
        "num_processes": req.world_size,
        "lora_r": req.lora_r,
        "lora_dropout": req.lora_dropout,
        "lora_target_modules": req.lora_targets,
        "quant_bits": req.quant_bits,
        "double_quant": req.double_quant,
        "num_virtual_tokens": req.num_virtual_tokens,
        "encoder_hidden_size": req.encoder_hidden_size,
        "adapter_bottleneck_size": req.adapter_bottleneck_size,
        "freeze_trainable_layers": req.freeze_trainable_layers,
    }
    return hp


def _request_of(obj: Any) -> PlanRequest:
    if isinstance(obj, PlanRequest):
        return obj
    req = getattr(obj, "request", None)
    if isinstance(req, PlanRequest):
        return req
    if isinstance(req, dict):
        return PlanRequest.model_validate(req)
    raise TypeError("to_hyperparameters: expected a PlanResult, Recommendation or PlanRequest")


_OPTIM_FROM_HF = {
    "adamw_8bit": "adamw-8bit",
    "adamw_bnb_8bit": "adamw-8bit",
    "paged_adamw_8bit": "paged-adamw-8bit",
}


def request_from_hyperparameters(
    model: str,
    hp: Any,
    *,
    method: str | None = None,
    gpu: str = "A100-80GB",
    device: str = "gpu",
    **extra: Any,
) -> tuple[PlanRequest, list[str]]:
    """A job's method + hyperparameters (a dict exactly as POST /api/v1/jobs takes it, or a
    TrainHyperparameters) -> the PlanRequest of exactly that run, and notes on what the planner
    approximates. The one mapping used by the API, the CLI, the form and the job's stored prediction.

    Raises pydantic's ValidationError for bad hyperparameters (the same messages a job gets)."""
    from app.jobs.hyperparameters import TrainHyperparameters

    notes: list[str] = []
    if isinstance(hp, TrainHyperparameters):
        values = hp
    else:
        raw = dict(hp or {})
        method = method or str(raw.pop("method", "lora"))
        raw.pop("method", None)
        values = TrainHyperparameters(**raw)
    method = method or "lora"
    optim = values.optim
    if optim not in _OPTIM_FROM_HF and optim not in ("adamw_torch", "adamw_torch_fused"):
        notes.append(f"optimizer {optim} is estimated as AdamW")
    fields: dict[str, Any] = {
        "model": model,
        "method": method,
        "micro_batch": values.per_device_train_batch_size,
        "grad_accum": values.gradient_accumulation_steps,
        "seq_len": values.max_seq_length,
        "gradient_checkpointing": values.gradient_checkpointing,
        "precision": values.precision.replace("pure_bf16", "pure-bf16"),
        "optimizer": _OPTIM_FROM_HF.get(optim, "adamw"),
        "zero": values.zero_stage,
        "offload_optimizer": values.offload_optimizer,
        "offload_params": values.offload_params,
        "num_gpus": values.num_processes,
        "gpu": gpu,
        "device": device,
        "lora_r": values.lora_r,
        "lora_targets": values.lora_target_modules,
        "lora_dropout": values.lora_dropout,
        "quant_bits": values.quant_bits,
        "double_quant": values.double_quant,
        "num_virtual_tokens": values.num_virtual_tokens,
        "encoder_hidden_size": values.encoder_hidden_size,
        "adapter_bottleneck_size": values.adapter_bottleneck_size,
        "freeze_trainable_layers": values.freeze_trainable_layers,
    }
    if device == "cpu":
        # The CPU profile is one process without DeepSpeed: plan the job's single-process equivalent.
        if values.zero_stage or values.num_processes > 1:
            notes.append("the CPU profile plans one process without DeepSpeed")
        fields.update(zero=None, offload_optimizer=False, offload_params=False, num_gpus=1)
    fields.update(extra)
    return PlanRequest(**fields), notes
