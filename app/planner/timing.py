"""Training time: FLOPs per token over (GPUs x peak FLOP/s x MFU), plus exposed communication and offload.

compute:  tokens x F / (world x peak x MFU_eff), F per token =
  full / freeze (trainable part)  6N           (Kaplan et al. 2020: 2N forward + 4N backward)
  LoRA / QLoRA / adapters        4N + 6N_a    (frozen weights skip the weight-gradient GEMM: 2N fwd + 2N
                                               input-gradients; adapters train fully)
  P-tuning                        4N + 6N_enc  on s + virtual tokens
  + attention 12·L·h·s            (PaLM appendix B, nanoGPT estimate_mfu)
  + 2N (+4·L·h·s) recomputation with gradient checkpointing.
ZeRO-3 adds STAGE3_COMPUTE_OVERHEAD to compute (parameter fetch/release on the critical path).
communication per optimizer step: ZeRO paper section 7 volumes (2Ψ for DP / stage 1 / 2, 3Ψ for stage 3;
stage 2 and 3 communicate every micro-batch) in 16-bit bytes over a ring: 2(N-1)/N of the volume per
rank, at NVLink/PCIe speed inside a node and INTER_NODE_BYTES_PER_S across nodes; only EXPOSED_COMM of it
adds to the step. Offload adds PCIe copies and a CPU-Adam step.
"""

from __future__ import annotations

from dataclasses import dataclass

from .architecture import ModelShape
from .constants import (
    ATTENTION_FLOPS_FACTOR,
    COMM_VOLUME_PARAMS,
    CPU_ADAM_PARAMS_PER_S,
    EXPOSED_COMM,
    INTER_NODE_BYTES_PER_S,
    MFU,
    MFU_HALF_TOKENS,
    OFFLOAD_EXPOSED_TRANSFER,
    PCIE_BYTES_PER_S,
    STAGE3_COMPUTE_OVERHEAD,
)
from .gpus import GpuSpec
from .memory import ModelStates
from .schemas import PlanRequest

CPU_FLOPS = 40e9  # CPU profile: ~40 GFLOP/s fp32 measured by benchmarks/planner_cpu.py on 2 cores (rough)


@dataclass
class StepTime:
    compute_s: float
    comm_s: float
    offload_s: float
    tokens_per_step: int

    @property
    def step_s(self) -> float:
        return self.compute_s + self.comm_s + self.offload_s

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_per_step / self.step_s if self.step_s > 0 else 0.0


def flops_per_token(shape: ModelShape, states: ModelStates, req: PlanRequest, seq_len: int) -> float:
    n = shape.num_params
    attn = ATTENTION_FLOPS_FACTOR * shape.num_layers * shape.attn_dim * seq_len
    if req.method == "full":
        f = 6.0 * n
    elif req.method == "freeze":
        f = 4.0 * n + 2.0 * states.trainable_params
    else:
        f = 4.0 * n + 6.0 * states.adapter_params
    f += attn
    if req.gradient_checkpointing:
        f += 2.0 * n + attn / 3.0
    return f


def step_time(shape: ModelShape, states: ModelStates, req: PlanRequest, gpu: GpuSpec | None) -> StepTime:
    """Seconds per optimizer step (micro_batch x grad_accum sequences per GPU)."""
    seq = req.seq_len + (req.num_virtual_tokens if req.method in ("ptuning", "prompt") else 0)
    micro_tokens = req.micro_batch * seq
    tokens_per_gpu = micro_tokens * req.grad_accum
    tokens = tokens_per_gpu * req.world_size
    f = flops_per_token(shape, states, req, seq)
    if gpu is None:  # CPU profile
        return StepTime(tokens_per_gpu * f / CPU_FLOPS, 0.0, 0.0, tokens)
    peak = gpu.fp32_flops if req.precision == "fp32" else gpu.bf16_flops
    mfu = MFU[req.method] * micro_tokens / (micro_tokens + MFU_HALF_TOKENS)
    compute = tokens_per_gpu * f / (peak * mfu)
    if req.zero == 3:
        compute *= 1 + STAGE3_COMPUTE_OVERHEAD

    n = req.world_size
    stage = req.zero or 0
    comm = 0.0
    if n > 1:
        # Full-model states move only for trained parameters at stages 0-2; stage 3 also gathers frozen ones.
        moved = states.trainable_params if stage < 3 else states.total_params
        volume = COMM_VOLUME_PARAMS[stage] * moved * 2.0  # 16-bit elements -> bytes
        bw = gpu.intra_node_bytes_per_s if req.num_nodes == 1 else INTER_NODE_BYTES_PER_S
        per_round = volume * (n - 1) / n / bw
        rounds = req.grad_accum if stage >= 2 else 1
        comm = EXPOSED_COMM[stage] * per_round * rounds
    offload = 0.0
    if req.offload_optimizer:
        part = states.trainable_params / n
        # fp16 gradients down, fp16 parameters up, then CPU-Adam over this node's partitions.
        pcie = 2 * part * 2.0 / PCIE_BYTES_PER_S
        offload += OFFLOAD_EXPOSED_TRANSFER * pcie + part * req.num_gpus / CPU_ADAM_PARAMS_PER_S
    if req.offload_params:
        # every micro-batch fetches this rank's parameter partition for forward and again for backward
        offload += req.grad_accum * 2 * (states.total_params / n) * 2.0 / PCIE_BYTES_PER_S
    return StepTime(compute, comm, offload, tokens)


def total_seconds(step: StepTime, req: PlanRequest) -> float | None:
    if not req.train_tokens:
        return None
    steps = -(-req.train_tokens // max(step.tokens_per_step, 1))
    return steps * step.step_s
