"""Recommendations: enumerate method x ZeRO stage x offload x checkpointing x optimizer x micro-batch, keep
what fits with margin, rank by estimated time; and the longest sequence / largest micro-batch that fits.

The per-GPU batch (micro_batch x grad_accum) of the request is kept, so every candidate trains the same
number of sequences per optimizer step. The requested method ranks before alternative methods (a
different method changes what is learned, not just how fast), then by estimated seconds per step.
Stage order for speed follows from timing.py (the course's 0 > 1 > 2 > 2+offload > 3 > 3+offload).
"""

from __future__ import annotations

import math

from .architecture import ModelShape, load_model_shape
from .schemas import PlanRequest, PlanResult, Recommendation

GIB = 2**30
# (zero stage, offload optimizer, offload params) candidates; None = no DeepSpeed (DDP for several GPUs).
_MULTI = [(0, False, False), (1, False, False), (2, False, False), (2, True, False), (3, False, False),
          (3, True, False), (3, True, True)]  # fmt: skip
_SINGLE = [(None, False, False), (2, True, False), (3, True, False), (3, True, True)]
_ALTERNATIVES = {"full": ("lora", "qlora"), "freeze": ("lora", "qlora"), "lora": ("qlora",)}


def _plan(req: PlanRequest, shape: ModelShape) -> PlanResult:
    from .core import plan

    return plan(req, shape=shape, with_recommendations=False)


def _micro_batches(per_gpu_batch: int) -> list[int]:
    out, mb = [], 1
    while mb < per_gpu_batch:
        out.append(mb)
        mb *= 2
    out.append(per_gpu_batch)
    return out


def _describe(req: PlanRequest) -> str:
    if req.zero is None:
        stage = "no DeepSpeed" if req.world_size == 1 else "DDP"
    else:
        stage = f"ZeRO-{req.zero}"
        if req.offload_optimizer:
            stage += " + optimizer offload"
        if req.offload_params:
            stage += " + parameter offload"
    parts = [req.method, stage, f"micro-batch {req.micro_batch} x accumulation {req.grad_accum}"]
    if req.gradient_checkpointing:
        parts.append("gradient checkpointing")
    if req.optimizer != "adamw":
        parts.append(req.optimizer)
    return ", ".join(parts)


_LABELS = {
    "method": "method", "zero": "DeepSpeed ZeRO stage", "offload_optimizer": "optimizer offload",
    "offload_params": "parameter offload", "gradient_checkpointing": "gradient checkpointing",
    "optimizer": "optimizer", "micro_batch": "micro-batch", "grad_accum": "accumulation",
}  # fmt: skip


def _differences(request: PlanRequest, cand: PlanRequest) -> tuple[str, ...]:
    """What a candidate changes in the user's configuration, in words ("micro-batch 2 -> 1", ...)."""
    out = []
    for key, label in _LABELS.items():
        before, after = getattr(request, key), getattr(cand, key)
        if before != after:
            if isinstance(after, bool):
                out.append(f"{label} {'on' if after else 'off'}")
            else:
                shown = {None: "none"}.get(after, after)
                out.append(f"{label} { ({None: 'none'}.get(before, before)) } -> {shown}")
    return tuple(out)


def recommend(
    request: PlanRequest, *, top_k: int = 5, shape: ModelShape | None = None
) -> list[Recommendation]:
    """The fastest configurations that fit, best first (empty when nothing fits)."""
    if request.device == "cpu":
        return []
    shape = shape or load_model_shape(request.model)
    per_gpu_batch = request.micro_batch * request.grad_accum
    methods = (request.method, *_ALTERNATIVES.get(request.method, ()))
    stages = _SINGLE if request.world_size == 1 else _MULTI
    optimizers = [request.optimizer] + (["adamw-8bit"] if request.optimizer == "adamw" else [])
    best: dict[tuple, tuple[PlanResult, PlanRequest]] = {}
    for method in methods:
        for zero, off_opt, off_par in stages:
            for ckpt in (False, True):
                for optim in optimizers:
                    key = (method, zero, off_opt, off_par, ckpt, optim)
                    # Largest micro-batch first: it is the fastest, stop at the first that fits.
                    for mb in reversed(_micro_batches(per_gpu_batch)):
                        cand = request.model_copy(
                            update={
                                "method": method, "zero": zero, "offload_optimizer": off_opt,
                                "offload_params": off_par, "gradient_checkpointing": ckpt, "optimizer": optim,
                                "micro_batch": mb, "grad_accum": -(-per_gpu_batch // mb),
                            }
                        )  # fmt: skip
                        try:
                            result = _plan(cand, shape)
                        except ValueError:  # a combination the job rules refuse (method_rules)
                            break
                        if result.fits:
                            best[key] = (result, cand)
                            break

    def changes(cand: PlanRequest) -> int:
        keys = ("zero", "offload_optimizer", "offload_params", "gradient_checkpointing", "optimizer")
        return sum(getattr(cand, k) != getattr(request, k) for k in keys)

    # Times within 1 % are a tie: then the fewest changes to what the user asked for, then the lower peak.
    ranked = sorted(
        best.values(),
        key=lambda rc: (
            rc[1].method != request.method,
            round(math.log(max(rc[0].seconds_per_step, 1e-9)) / math.log(1.01)),
            changes(rc[1]),
            rc[0].per_gpu.peak_bytes,
        ),
    )
    out: list[Recommendation] = []
    seen: set[tuple] = set()
    fastest = ranked[0][0].seconds_per_step if ranked else 0.0
    rank = 0
    for result, cand in ranked:
        differs = _differences(request, cand)
        if differs in seen:  # two candidates that read the same to a user are one recommendation
            continue
        seen.add(differs)
        rank += 1
        if rank > top_k:
            break
        i = rank
        spare = (result.per_gpu.capacity_bytes - result.per_gpu.peak_bytes) / GIB
        slower = result.seconds_per_step / fastest if fastest else 1.0
        why = "fastest configuration that fits" if i == 1 else f"{slower:.2f}x the time of the fastest"
        if cand.method != request.method:
            why += f"; switches method to {cand.method}"
        how = "; ".join(differs) or "as you set it"
        reason = (
            f"{_describe(cand)} ({how}): peak {result.per_gpu.peak_bytes / GIB:.1f} GiB, "
            f"{spare:.1f} GiB to spare; ~{result.seconds_per_step:.2f} s/step; {why}"
        )
        out.append(
            Recommendation(
                rank=i, method=cand.method, zero=cand.zero, offload_optimizer=cand.offload_optimizer,
                offload_params=cand.offload_params, gradient_checkpointing=cand.gradient_checkpointing,
                optimizer=cand.optimizer, micro_batch=cand.micro_batch, grad_accum=cand.grad_accum,
                precision=cand.precision, peak_bytes=result.per_gpu.peak_bytes,
                estimated_seconds=result.estimated_seconds or result.seconds_per_step, reason=reason,
                request=cand.model_dump(), differs=how,
            )
        )  # fmt: skip
    return out


def _largest_fitting(request: PlanRequest, field: str, upper: int, shape: ModelShape) -> int:
    """Largest value of an integer field (memory grows with it) for which the plan fits; 0 if none."""

    def fits(v: int) -> bool:
        return _plan(request.model_copy(update={field: v}), shape).fits

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi <= upper and fits(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, upper + 1)
    while hi - lo > 1:  # invariant: fits(lo), not fits(hi) (or hi beyond upper)
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def max_seq_len_that_fits(request: PlanRequest, *, shape: ModelShape | None = None) -> int:
    """The longest sequence (tokens) that fits with this configuration, capped at the model's context."""
    shape = shape or load_model_shape(request.model)
    return _largest_fitting(request, "seq_len", shape.max_position_embeddings, shape)


def max_micro_batch_that_fits(request: PlanRequest, *, shape: ModelShape | None = None) -> int:
    """The largest micro-batch that fits with this configuration (0 if even 1 does not)."""
    shape = shape or load_model_shape(request.model)
    return _largest_fitting(request, "micro_batch", 65_536, shape)
