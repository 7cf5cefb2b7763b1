"""ZeRO sharding and offload: whole-replica model states -> bytes per GPU, per-rank CPU bytes, and the
communication buffers each stage adds.

Sharding follows the ZeRO paper (Rajbhandari et al. 2020, section 5): stage 1 partitions optimizer states
(and the fp32 master), stage 2 also gradients, stage 3 also parameters, each over all N data-parallel
ranks. Offload (ZeRO-Offload, Ren et al. 2021; ZeRO-Infinity) moves the optimizer partition (with its fp32
gradient copy for CPU-Adam) and, at stage 3, the 16-bit parameter partition to host memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .architecture import ModelShape
from .constants import DS_PREFETCH_FRACTION
from .memory import ModelStates
from .schemas import PlanRequest

# DeepSpeed's default allgather_bucket_size (stage 1/2), not set by the course's config (DeepSpeed config
# docs, "allgather_bucket_size": default 5e8 elements).
DS_ALLGATHER_BUCKET = 500_000_000
# stage3_max_live_parameters in the course's config.
DS_MAX_LIVE = 1_000_000_000


@dataclass
class Sharded:
    weights: dict[str, float] = field(default_factory=dict)
    gradients: float = 0.0
    master: float = 0.0
    optimizer: float = 0.0
    buffers: dict[str, float] = field(default_factory=dict)  # persistent during forward/backward
    step_buffers: dict[str, float] = field(default_factory=dict)  # only during the optimizer step
    cpu: dict[str, float] = field(default_factory=dict)  # per rank


def shard(shape: ModelShape, states: ModelStates, req: PlanRequest) -> Sharded:
    n = req.world_size
    stage = req.zero
    out = Sharded()
    half = 2.0 if req.precision != "fp32" else 4.0
    for term, nbytes in states.weights.items():
        if stage == 3:
            nbytes /= n
            if req.offload_params:
                out.cpu[f"{term} (offloaded)"] = nbytes
                continue
        out.weights[term] = nbytes
    out.gradients = states.gradients / n if (stage or 0) >= 2 else states.gradients
    opt_div = n if (stage or 0) >= 1 else 1
    master, optimizer = states.master / opt_div, states.optimizer / opt_div
    if req.offload_optimizer:
        out.cpu["master weights (offloaded)"] = master
        out.cpu["optimizer states (offloaded)"] = optimizer
        # CPU-Adam works on an fp32 copy of this rank's gradient partition.
        out.cpu["fp32 gradient partition"] = states.trainable_params * 4.0 / n
    else:
        out.master, out.optimizer = master, optimizer

    h = shape.hidden_size
    reduce_bucket = h * h  # HF "auto" reduce_bucket_size
    if stage is None or stage == 0:
        if n > 1:
            # torch DDP copies every gradient into its buckets (gradient_as_bucket_view=False by default).
            out.buffers["DDP gradient buckets"] = states.gradients
    elif stage in (1, 2):
        # overlap_comm double-buffers the reduce bucket (16-bit gradients).
        out.buffers["ZeRO reduce buckets"] = 2 * reduce_bucket * half
        trainable_per_rank = states.trainable_params / n
        out.step_buffers["ZeRO all-gather bucket"] = min(DS_ALLGATHER_BUCKET, trainable_per_rank) * half
    else:
        # Gathered parameters: the module being computed plus the prefetch bucket (0.9 h^2 elements),
        # bounded by stage3_max_live_parameters; the largest module is usually the embedding.
        live = min(DS_MAX_LIVE, shape.largest_layer_params + DS_PREFETCH_FRACTION * h * h)
        out.buffers["ZeRO-3 live parameters"] = live * half
        out.buffers["ZeRO reduce buckets"] = 2 * reduce_bucket * half
        # Parameters under stage3_param_persistence_threshold (10 h elements: norms, biases) stay whole.
        persistent = shape.num_layers * 2 * shape.norm_params + shape.norm_params
        out.buffers["ZeRO-3 persistent parameters"] = persistent * half
    if req.offload_optimizer or req.offload_params:
        # Pinned host staging buffers for the transfers (one reduce bucket each way).
        out.cpu["pinned transfer buffers"] = 2 * reduce_bucket * 4.0
    return out
