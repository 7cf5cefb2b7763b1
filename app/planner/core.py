"""plan(): peak memory per GPU as the maximum over the forward, backward and optimizer-step phases.

forward  = states + saved activations + logits/upcast/log-softmax at the loss
backward = states + max(saved activations + log-softmax backward,
                        saved activations + one layer's backward working set + head gradient,
                        all gradients + one layer's backward working set)
step     = states + gradients + optimizer-step buffers
where states = weights + fp32 master + optimizer states + communication buffers (+ gradients kept across
micro-batches when grad_accum > 1). The allocated peak then gets the caching-allocator overhead and the
CUDA context (GPU) or the import baseline and allocator retention (CPU).
"""

from __future__ import annotations

import os

from .activations import activations
from .architecture import ModelShape, load_model_shape
from .constants import (
    ALLOCATOR_OVERHEAD,
    CPU_HEAP_RETENTION_ADAPTERS,
    CPU_HEAP_RETENTION_FULL,
    CPU_IMPORT_BASELINE_BYTES,
    CUDA_CONTEXT_BYTES,
    FIT_MARGIN,
)
from .deepspeed import deepspeed_config, training_arguments
from .gpus import GpuSpec, custom_gpu, get_gpu
from .memory import is_mixed, model_states
from .schemas import PerGpu, PlanRequest, PlanResult
from .timing import step_time, total_seconds
from .zero import shard

# The CPU profile is the live memory of the step, the import baseline and glibc's heap retention
# (constants.CPU_HEAP_RETENTION_*). Live memory alone is what RSS shows when glibc returns freed tensors to
# the OS (MALLOC_MMAP_THRESHOLD_ fixed at 131072, glibc's initial value): the calibration test runs so.
CPU_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}
CPU_HEAP_RETENTION_TERM = "glibc heap retention"
# Host RAM a CUDA PyTorch training process holds besides offloaded tensors (CUDA/cuBLAS libraries, Python,
# tokenizer, data loader): assumption 3 GB per process.
GPU_PROCESS_HOST_BYTES = 3_000_000_000


def resolve_gpu(req: PlanRequest) -> GpuSpec:
    """The card to plan for: the catalog's, with the request's memory or TFLOP/s in place of its own where
    given (a 24 GiB variant of a known card, say); a card the catalog lacks needs both."""
    if req.gpu_memory_gib is None and req.gpu_tflops is None:
        return get_gpu(req.gpu)
    if req.gpu_memory_gib is not None and req.gpu_tflops is not None:
        return custom_gpu(req.gpu_memory_gib, req.gpu_tflops, name=req.gpu or "custom")
    try:
        named = get_gpu(req.gpu)
    except ValueError:
        missing = "gpu_tflops" if req.gpu_tflops is None else "gpu_memory_gib"
        raise ValueError(f"gpu: {req.gpu!r} is not in the catalog, so give {missing} too") from None
    if req.gpu_memory_gib is not None:
        return named.model_copy(update={"memory_bytes": int(req.gpu_memory_gib * 2**30)})
    assert req.gpu_tflops is not None
    tflops = req.gpu_tflops * 1e12
    fp32 = named.fp32_flops * tflops / named.bf16_flops  # the fp32 rate scales with the 16-bit one given
    return named.model_copy(update={"bf16_flops": tflops, "fp32_flops": fp32})


def _host_ram_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def _phases(shape: ModelShape, req: PlanRequest) -> tuple[dict[str, dict[str, float]], object, object]:
    states = model_states(shape, req)
    acts = activations(shape, states, req)
    sh = shard(shape, states, req)
    base: dict[str, float] = dict(sh.weights)
    if sh.master:
        base["master weights (fp32)"] = sh.master
    if sh.optimizer:
        base["optimizer states"] = sh.optimizer
    base.update(sh.buffers)
    if req.grad_accum > 1:
        base["gradients"] = sh.gradients
    grads_in_flight = 0.0 if req.grad_accum > 1 else sh.gradients
    autocast = {"autocast weight copies": states.autocast_copies} if states.autocast_copies else {}
    act = {"activations": acts.saved_layers, "final norm / head input": acts.head_saved}

    forward = {**base, **autocast, **act, "logits and loss": acts.forward_logits}
    start = {**base, **autocast, **act, "logits and loss": acts.loss_backward}
    head_grad = (shape.embedding_params + shape.lm_head_params) * 4.0 if req.method == "full" else 0.0
    through = {**base, **autocast, **act, "layer backward working set": acts.layer_backward}
    if grads_in_flight:
        through["gradients"] = min(head_grad, grads_in_flight)
    end = {**base, "layer backward working set": acts.layer_backward}
    if grads_in_flight:
        end["gradients"] = grads_in_flight
    backward = max((start, through, end), key=lambda d: sum(d.values()))
    step = {**base, **sh.step_buffers}
    step["gradients"] = sh.gradients
    return {"forward": forward, "backward": backward, "optimizer_step": step}, states, sh


def plan(
    request: PlanRequest, *, shape: ModelShape | None = None, with_recommendations: bool = True
) -> PlanResult:
    """Estimate memory per GPU, host RAM, fit and time for one configuration (see module docstring)."""
    req = request
    shape = shape or load_model_shape(req.model)
    on_cpu = req.device == "cpu"
    gpu = None if on_cpu else resolve_gpu(req)
    if gpu is not None and not gpu.bf16 and req.precision in ("bf16", "pure-bf16"):
        notes = [f"{gpu.name} has no bf16: use fp16 (estimated as if bf16 were emulated)"]
    else:
        notes = []
    phases, states, sh = _phases(shape, req)
    totals = {name: sum(terms.values()) for name, terms in phases.items()}
    peak_phase = max(totals, key=totals.get)
    breakdown = {k: v for k, v in phases[peak_phase].items() if v > 0}
    allocated = totals[peak_phase]
    if on_cpu:
        retention = CPU_HEAP_RETENTION_FULL if req.method == "full" else CPU_HEAP_RETENTION_ADAPTERS
        breakdown[CPU_HEAP_RETENTION_TERM] = retention * allocated
        breakdown["import baseline"] = CPU_IMPORT_BASELINE_BYTES
        capacity = _host_ram_bytes()
    else:
        breakdown["allocator overhead"] = ALLOCATOR_OVERHEAD * allocated
        breakdown["CUDA context"] = CUDA_CONTEXT_BYTES
        capacity = gpu.memory_bytes
    breakdown = {k: int(round(v)) for k, v in breakdown.items()}
    peak = sum(breakdown.values())
    phase_peaks = {k: int(round(v)) for k, v in totals.items()}

    cpu_rank = sum(sh.cpu.values())
    if on_cpu:
        cpu_bytes = peak
    else:
        loading = states.weight_bytes / (req.world_size if req.zero == 3 else 1)
        cpu_bytes = int(req.num_gpus * (GPU_PROCESS_HOST_BYTES + max(cpu_rank, loading)))
    fits = peak <= capacity * (1 - FIT_MARGIN)
    st = step_time(shape, states, req, gpu)
    if req.precision == "fp16" and not on_cpu:
        notes.append("fp16 uses dynamic loss scaling; bf16 is safer where the card supports it")
    if is_mixed(req) and req.zero is None and req.method in ("full", "freeze"):
        notes.append("without DeepSpeed, HF AMP keeps fp32 weights and gradients (16 bytes/param)")
    if req.optimizer == "paged-adamw-8bit":
        notes.append("paged optimizer states can spill to host RAM under pressure; counted on the GPU here")
    result = PlanResult(
        request=req,
        model_name=shape.name,
        num_params=shape.num_params,
        trainable_params=states.trainable_params,
        per_gpu=PerGpu(
            peak_bytes=peak,
            breakdown=breakdown,
            phase_peaks=phase_peaks,
            peak_phase=peak_phase,
            capacity_bytes=capacity,
        ),
        cpu_bytes=cpu_bytes,
        fits=fits,
        estimated_seconds=total_seconds(st, req),
        seconds_per_step=st.step_s,
        tokens_per_second=st.tokens_per_second,
        deepspeed_config=deepspeed_config(req) if req.zero is not None else None,
        training_arguments=training_arguments(req),
        notes=notes,
    )
    if with_recommendations and not on_cpu:
        from .recommend import max_micro_batch_that_fits, max_seq_len_that_fits, recommend

        result.recommendations = recommend(req, shape=shape)
        result.max_seq_len = max_seq_len_that_fits(req, shape=shape)
        result.max_micro_batch = max_micro_batch_that_fits(req, shape=shape)
    return result
