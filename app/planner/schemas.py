"""Request and result models of the planner (fields mirror the `ftstudio plan` CLI flags)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.jobs.hyperparameters import TrainHyperparameters
from app.jobs.method_rules import deepspeed_problems

Method = Literal["full", "lora", "qlora", "ptuning", "prefix", "prompt", "ia3", "adapter", "freeze"]
Precision = Literal["auto", "fp32", "fp16", "bf16", "pure-bf16"]
Optimizer = Literal["adamw", "adamw-8bit", "paged-adamw-8bit"]
METHODS: tuple[str, ...] = (
    "full",
    "lora",
    "qlora",
    "ptuning",
    "prefix",
    "prompt",
    "ia3",
    "adapter",
    "freeze",
)
# The job's own defaults: a plan with no options plans exactly what a job with no hyperparameters trains.
_HP = TrainHyperparameters()


class PlanRequest(BaseModel):
    """One training configuration to estimate. Defaults ARE TrainHyperparameters' defaults (read from it);
    a job's method + hyperparameters map here through request_from_hyperparameters (planner/deepspeed.py)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="catalog id, known hub id, model folder or config.json path")
    method: Method = "lora"
    lora_r: int = Field(_HP.lora_r, ge=1, le=4096)
    lora_dropout: float = Field(
        _HP.lora_dropout, ge=0, lt=1, description="FT Studio's default; >0 saves a dropped copy"
    )
    lora_targets: str = Field(
        _HP.lora_target_modules, min_length=1, description="all-linear | attention | q_proj,v_proj,..."
    )
    quant_bits: Literal[4, 8] = _HP.quant_bits
    double_quant: bool = _HP.double_quant
    precision: Precision = Field(
        "auto", description="auto: bf16 on GPUs with bf16, fp16 on older GPUs, fp32 on the CPU profile"
    )
    optimizer: Optimizer = "adamw"
    zero: Literal[0, 1, 2, 3] | None = Field(None, description="DeepSpeed ZeRO stage; None = no DeepSpeed")
    offload_optimizer: bool = False
    offload_params: bool = False
    gpu: str = "A100-80GB"
    gpu_memory_gib: float | None = Field(None, gt=0, description="custom card: memory in GiB")
    gpu_tflops: float | None = Field(None, gt=0, description="custom card: dense 16-bit TFLOP/s")
    num_gpus: int = Field(1, ge=1, le=4096, description="GPUs per node")
    num_nodes: int = Field(1, ge=1, le=1024)
    seq_len: int = Field(_HP.max_seq_length, ge=1, le=1_048_576)
    micro_batch: int = Field(_HP.per_device_train_batch_size, ge=1, le=65_536)
    grad_accum: int = Field(_HP.gradient_accumulation_steps, ge=1, le=65_536)
    gradient_checkpointing: bool = _HP.gradient_checkpointing
    flash_attention: bool = False
    chunked_loss: bool = Field(False, description="chunked (compiled) cross-entropy as in torchtune; HF: off")
    train_tokens: int | None = Field(None, ge=1, description="tokens to train on (for the time estimate)")
    device: Literal["gpu", "cpu"] = "gpu"
    # Method details (FT Studio hyperparameter defaults).
    num_virtual_tokens: int = Field(_HP.num_virtual_tokens, ge=1, le=4096)
    encoder_hidden_size: int = Field(_HP.encoder_hidden_size, ge=1, le=65_536)
    adapter_bottleneck_size: int = Field(_HP.adapter_bottleneck_size, ge=1, le=65_536)
    freeze_trainable_layers: int = Field(_HP.freeze_trainable_layers, ge=1, le=4096)

    @model_validator(mode="after")
    def _check(self) -> PlanRequest:
        # The offload x stage rules are the job's own (app/jobs/method_rules.py), written once.
        problems = deepspeed_problems(self.zero, self.offload_optimizer, self.offload_params)
        if problems:
            raise ValueError(f"{problems[0][0]}: {problems[0][1]}")
        if self.device == "cpu" and (self.zero or self.num_gpus > 1 or self.num_nodes > 1):
            raise ValueError("device: the CPU profile is one process without DeepSpeed")
        if self.precision == "auto":
            # The child's rule (app/jobs/trainer_args.resolve_precision). The CPU profile assumes fp32: the
            # worker picks bf16 only where its probe measured bf16 faster, which the planner cannot know.
            object.__setattr__(self, "precision", self._auto_precision())
        return self

    def _auto_precision(self) -> str:
        if self.device == "cpu":
            return "fp32"
        from .gpus import get_gpu

        try:
            return "bf16" if get_gpu(self.gpu).bf16 else "fp16"
        except ValueError:  # a custom card: assume a current one
            return "bf16"

    @property
    def world_size(self) -> int:
        return self.num_gpus * self.num_nodes


class PerGpu(BaseModel):
    peak_bytes: int
    breakdown: dict[str, int] = Field(description="term -> bytes at the peak phase (sums to peak_bytes)")
    phase_peaks: dict[str, int] = Field(description="forward / backward / optimizer_step -> bytes")
    peak_phase: str
    capacity_bytes: int


class Recommendation(BaseModel):
    """One configuration that fits, with its estimate and the reason it was proposed."""

    rank: int
    method: Method
    zero: int | None
    offload_optimizer: bool
    offload_params: bool
    gradient_checkpointing: bool
    optimizer: Optimizer
    micro_batch: int
    grad_accum: int
    precision: Precision
    peak_bytes: int
    estimated_seconds: float
    reason: str
    differs: str = Field("", description="how it differs from the requested configuration, in words")
    request: dict[str, Any] = Field(description="the full PlanRequest of this plan (to re-plan or launch)")


class PlanResult(BaseModel):
    request: PlanRequest
    model_name: str
    num_params: int
    trainable_params: int
    per_gpu: PerGpu
    cpu_bytes: int = Field(description="host RAM per node: offloaded states, pinned buffers, loading")
    fits: bool
    estimated_seconds: float | None
    seconds_per_step: float
    tokens_per_second: float
    recommendations: list[Recommendation] = Field(default_factory=list)
    max_seq_len: int | None = Field(None, description="longest sequence that fits with this configuration")
    max_micro_batch: int | None = Field(
        None, description="largest micro-batch that fits with this configuration"
    )
    deepspeed_config: dict[str, Any] | None
    training_arguments: dict[str, Any]
    notes: list[str] = Field(default_factory=list)
