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
    """Hugging Face TrainingArguments keyword arguments for this plan."""
    args: dict[str, Any] = {
        "per_device_train_batch_size": req.micro_batch,
        "gradient_accumulation_steps": req.grad_accum,
        "gradient_checkpointing": req.gradient_checkpointing,
        "bf16": req.precision in ("bf16", "pure-bf16"),
        "fp16": req.precision == "fp16",
        "optim": OPTIM_NAMES[req.optimizer],
    }
    if req.device == "cpu":
        args["use_cpu"] = True
    if req.zero is not None:
        args["deepspeed"] = deepspeed_config(req)
    return args


def to_hyperparameters(plan_or_rec: PlanResult | Recommendation | PlanRequest) -> dict[str, Any]:
    """FT Studio hyperparameter names (app/jobs/hyperparameters.py) for a plan, recommendation or request."""
    req = _request_of(plan_or_rec)
    hp: dict[str, Any] = {
        "method": req.method,
        "per_device_train_batch_size": req.micro_batch,
        "gradient_accumulation_steps": req.grad_accum,
        "max_seq_length": req.seq_len,
        "gradient_checkpointing": req.gradient_checkpointing,
        "precision": PRECISION_NAMES[req.precision],
        "optim": OPTIM_NAMES[req.optimizer],
        "zero_stage": req.zero,
        "offload_optimizer": req.offload_optimizer,
        "offload_params": req.offload_params,
        "num_processes": req.world_size,
        "lora_r": req.lora_r,
        "lora_target_modules": req.lora_targets,
        "quant_bits": req.quant_bits,
        "double_quant": req.double_quant,
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
_METHOD_FROM_HP = {"prefix": "ptuning", "prompt": "ptuning", "ia3": "lora"}


def request_from_hyperparameters(
    model: str, hp: dict[str, Any], *, gpu: str = "A100-80GB", device: str = "gpu", **extra: Any
) -> tuple[PlanRequest, list[str]]:
    """The inverse of to_hyperparameters: FT Studio hyperparameters (+ method) -> PlanRequest and notes on
    what had to be approximated (methods and optimizers the planner does not model one to one)."""
    notes: list[str] = []
    method = str(hp.get("method", "lora"))
    if method in _METHOD_FROM_HP:
        notes.append(f"{method} is estimated as {_METHOD_FROM_HP[method]} (similar memory profile)")
        method = _METHOD_FROM_HP[method]
    optim = str(hp.get("optim", "adamw_torch"))
    if optim not in _OPTIM_FROM_HF and optim not in ("adamw_torch", "adamw_torch_fused"):
        notes.append(f"optimizer {optim} is estimated as AdamW")
    zero = hp.get("zero_stage")
    fields: dict[str, Any] = {
        "model": model,
        "method": method,
        "micro_batch": hp.get("per_device_train_batch_size", 1),
        "grad_accum": hp.get("gradient_accumulation_steps", 1),
        "seq_len": hp.get("max_seq_length", 1024),
        "gradient_checkpointing": bool(hp.get("gradient_checkpointing", False)),
        "precision": str(hp.get("precision", "bf16")).replace("pure_bf16", "pure-bf16"),
        "optimizer": _OPTIM_FROM_HF.get(optim, "adamw"),
        "zero": None if zero in (None, "") else int(zero),
        "offload_optimizer": bool(hp.get("offload_optimizer", False)),
        "offload_params": bool(hp.get("offload_params", False)),
        "num_gpus": hp.get("num_processes", 1),
        "gpu": gpu,
        "device": device,
    }
    renamed = {"lora_target_modules": "lora_targets"}
    for src in (
        "lora_r", "lora_target_modules", "lora_dropout", "quant_bits", "double_quant", "num_virtual_tokens",
        "encoder_hidden_size", "adapter_bottleneck_size", "freeze_trainable_layers",
    ):  # fmt: skip
        if hp.get(src) not in (None, ""):
            fields[renamed.get(src, src)] = hp[src]
    fields.update(extra)
    return PlanRequest(**fields), notes
