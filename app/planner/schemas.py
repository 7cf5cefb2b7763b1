"""Request and result models of the planner (fields mirror the `ftstudio plan` CLI flags)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["full", "lora", "qlora", "ptuning", "adapter", "freeze"]
Precision = Literal["fp32", "fp16", "bf16", "pure-bf16"]
Optimizer = Literal["adamw", "adamw-8bit", "paged-adamw-8bit"]
METHODS: tuple[str, ...] = ("full", "lora", "qlora", "ptuning", "adapter", "freeze")


class PlanRequest(BaseModel):
    """One training configuration to estimate. Defaults follow FT Studio's hyperparameter defaults."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="catalog id, known hub id, model folder or config.json path")
    method: Method = "lora"
    lora_r: int = Field(8, ge=1, le=4096)
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="FT Studio's default; >0 saves a dropped copy")
    lora_targets: str = Field(
        "all-linear", min_length=1, description="all-linear | attention | q_proj,v_proj,..."
    )
    quant_bits: Literal[4, 8] = 4
    double_quant: bool = True
    precision: Precision = "bf16"
    optimizer: Optimizer = "adamw"
    zero: Literal[0, 1, 2, 3] | None = Field(None, description="DeepSpeed ZeRO stage; None = no DeepSpeed")
    offload_optimizer: bool = False
    offload_params: bool = False
    gpu: str = "A100-80GB"
    gpu_memory_gib: float | None = Field(None, gt=0, description="custom card: memory in GiB")
    gpu_tflops: float | None = Field(None, gt=0, description="custom card: dense 16-bit TFLOP/s")
    num_gpus: int = Field(1, ge=1, le=4096, description="GPUs per node")
    num_nodes: int = Field(1, ge=1, le=1024)
    seq_len: int = Field(1024, ge=1, le=1_048_576)
    micro_batch: int = Field(1, ge=1, le=65_536)
    grad_accum: int = Field(1, ge=1, le=65_536)
    gradient_checkpointing: bool = False
    flash_attention: bool = False
    chunked_loss: bool = Field(False, description="chunked (compiled) cross-entropy as in torchtune; HF: off")
    train_tokens: int | None = Field(None, ge=1, description="tokens to train on (for the time estimate)")
    device: Literal["gpu", "cpu"] = "gpu"
    # Method details (FT Studio hyperparameter defaults).
    num_virtual_tokens: int = Field(20, ge=1, le=4096)
    encoder_hidden_size: int = Field(128, ge=1, le=65_536)
    adapter_bottleneck_size: int = Field(64, ge=1, le=65_536)
    freeze_trainable_layers: int = Field(2, ge=1, le=4096)

    @model_validator(mode="after")
    def _check(self) -> PlanRequest:
        if self.offload_params and self.zero != 3:
            raise ValueError("offload_params: parameter offload needs zero 3")
        if self.offload_optimizer and not self.zero:
            raise ValueError("offload_optimizer: optimizer offload needs zero 1, 2 or 3")
        if self.method == "qlora" and self.zero == 3:
            raise ValueError("zero: QLoRA cannot shard 4/8-bit weights with ZeRO-3; use zero 0-2")
        if self.device == "cpu" and (self.zero or self.num_gpus > 1 or self.num_nodes > 1):
            raise ValueError("device: the CPU profile is one process without DeepSpeed")
        return self

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
