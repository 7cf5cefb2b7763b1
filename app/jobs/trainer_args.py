"""The ONE mapping from TrainHyperparameters to what runs: precision, load dtype, Trainer keyword arguments
and the DeepSpeed dict. The planner (app/planner) and the training child (worker/training/sft.py) both call
it, so the plan and the run cannot disagree.

PURE (plain dicts, no torch): the child turns the result into TrainingArguments; the planner shows it.
"""

from __future__ import annotations

from typing import Any, Literal

from app.jobs.hyperparameters import TrainHyperparameters, default_learning_rate
from app.jobs.method_rules import check_method_combination

# Methods that freeze the base model and train a few added parameters.
ADAPTER_METHODS = ("lora", "qlora", "ptuning", "prefix", "prompt", "ia3", "adapter")
Device = Literal["cuda", "cpu"]
ConcretePrecision = Literal["fp32", "fp16", "bf16", "pure_bf16"]


def resolve_precision(
    precision: str, *, device: Device, bf16_supported: bool = True, cpu_prefers_bf16: bool = False
) -> ConcretePrecision:
    """`auto` -> bf16 on GPUs that have it, fp16 (with loss scaling) on older GPUs, and on a CPU what the
    worker measured faster (worker/training/precision.py: fp32 unless bf16 wins on that processor).
    Any other value is returned unchanged."""
    if precision != "auto":
        return precision  # type: ignore[return-value]
    if device == "cuda":
        return "bf16" if bf16_supported else "fp16"
    return "bf16" if cpu_prefers_bf16 else "fp32"


def load_dtype(method: str, precision: str) -> Literal["fp32", "bf16", "fp16"]:
    """dtype of the base weights as loaded. Adapter methods keep the frozen base in the compute dtype (no fp32
    copy of weights that never change; PEFT's autocast_adapter_dtype keeps the adapters in fp32), as
    LLaMA-Factory, torchtune and the Qwen scripts do. Full and freeze tuning keep fp32 master weights under
    mixed precision (the optimizer must see fp32), unless pure_bf16. QLoRA: bitsandbytes quantises the
    linears, and peft's prepare_model_for_kbit_training casts every other weight to fp32 anyway (its ZeRO-3
    quant storage must then be fp32 too: worker/training/methods/qlora.py), so it loads fp32."""
    if precision == "pure_bf16":
        return "bf16"
    if precision in ("bf16", "fp16") and method in ADAPTER_METHODS and method != "qlora":
        return precision  # type: ignore[return-value]
    return "fp32"


def precision_flags(precision: str) -> dict[str, bool]:
    """TrainingArguments' autocast flags: fp16 = autocast + GradScaler (dynamic loss scaling)."""
    if precision == "fp16":
        return {"fp16": True}
    if precision in ("bf16", "pure_bf16"):
        return {"bf16": True}
    return {}


def deepspeed_dict(hp: TrainHyperparameters) -> dict[str, Any] | None:
    """The DeepSpeed config for hp.zero_stage (None without DeepSpeed)."""
    if hp.zero_stage is None:
        return None
    from app.planner.deepspeed import deepspeed_json

    return deepspeed_json(
        hp.zero_stage, offload_optimizer=hp.offload_optimizer, offload_params=hp.offload_params
    )


def trainer_kwargs(
    method: str, hp: TrainHyperparameters, *, precision: ConcretePrecision, cuda: bool, has_eval: bool
) -> dict[str, Any]:
    """TrainingArguments keyword arguments (without output_dir) for this job on this device.

    ``precision`` is the resolved one (resolve_precision). Raises ValueError naming the field for a
    combination that cannot run (method_rules, the only place those rules are written)."""
    resolved = hp.model_copy(update={"precision": precision})
    problems = check_method_combination(method, resolved, gpu_available=cuda)
    if problems:
        field, reason = problems[0]
        raise ValueError(f"{field}: {reason}")
    per_device = hp.per_device_train_batch_size
    args: dict[str, Any] = {
        "num_train_epochs": hp.num_train_epochs,
        "max_steps": hp.max_steps,
        "per_device_train_batch_size": per_device,
        "per_device_eval_batch_size": per_device,
        "gradient_accumulation_steps": hp.gradient_accumulation_steps,
        "learning_rate": hp.learning_rate or default_learning_rate(method),
        "weight_decay": hp.weight_decay,
        "max_grad_norm": hp.max_grad_norm,
        "warmup_steps": hp.warmup_steps,
        "lr_scheduler_type": hp.lr_scheduler_type,
        "optim": hp.optim,
        "logging_strategy": "steps",
        "logging_steps": hp.logging_steps,
        "save_strategy": "steps",
        "save_steps": hp.save_steps,
        "save_total_limit": hp.save_total_limit,
        "seed": hp.seed,
        "data_seed": hp.seed,
        "report_to": "none",  # TensorBoard is the child's own callback, pointed at RUN_DIR/tensorboard
        "disable_tqdm": True,
        "remove_unused_columns": False,
        "dataloader_num_workers": 0,
        # bf16 on the CPU needs use_cpu (STACK-NOTES); with a launcher on a CPU, accelerate otherwise
        # believes there is one process and "train_batch_size": "auto" fails.
        "use_cpu": not cuda,
        **precision_flags(precision),
    }
    if hp.gradient_checkpointing:
        args["gradient_checkpointing"] = True
        args["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    if hp.num_processes > 1 and not cuda:
        args["ddp_backend"] = "gloo"
    ds = deepspeed_dict(hp)
    if ds is not None:
        args["deepspeed"] = ds
    ranking = ranks_checkpoints(hp, has_eval)
    if has_eval:
        # Ranking by eval_loss needs an evaluation at every save (HF's load_best_model_at_end asks the same).
        every_save = ranking and hp.metric_for_best == "eval_loss"
        eval_steps = hp.eval_steps or (hp.save_steps if every_save else None)
        args["eval_strategy"] = "steps" if eval_steps else "epoch"
        if eval_steps:
            args["eval_steps"] = eval_steps
    if ranking:
        # worker/training/best_checkpoints.py keeps the best k and the newest; the Trainer's own rotation
        # keeps the newest n and would delete the best ones.
        args["save_total_limit"] = None
    return args


def ranks_checkpoints(hp: TrainHyperparameters, has_eval: bool) -> bool:
    """Whether the child keeps the best keep_best_k checkpoints: the training loss ranks any run; eval_loss
    and the quick check's metrics need a validation split (without one the newest save_total_limit stay,
    and the child says so)."""
    if not hp.keep_best_k:
        return False
    return hp.metric_for_best == "loss" or has_eval
