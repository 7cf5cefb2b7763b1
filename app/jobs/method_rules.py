"""Which method / hyperparameter combinations cannot run, found by running them (PURE: no torch).

``check_method_combination`` returns ``(field, reason)`` for every problem; the web app turns each into a
422 naming the field, before anything is queued. Single-field bounds live in TrainHyperparameters; these are
the rules that need the method or the machine too.

What was run to find them (2026-11-28, this 2-core CPU with AVX512-BF16, torch 2.13.0, transformers 5.23.0,
peft 0.21.2, bitsandbytes 0.50.2, deepspeed 0.19.8; scripts kept in the report of the methods task):
- QLoRA, HF Trainer with an evaluation every 2 steps, tiny Llama/Qwen2 (hidden 64, 96, 128, 256):
  4-bit NF4 x double quant on/off x bnb_compute_dtype fp32/bf16/fp16 x precision fp32/bf16/pure_bf16/fp16,
  and 8-bit x the four precisions, adamw_torch and paged_adamw_8bit: ALL train once
  worker.training.methods.qlora applies the AVX512-BF16 workaround; WITHOUT it every 4-bit combination
  fails at the first step after an evaluation (hidden >= 128; "a view of a leaf Variable that requires
  grad is being used in an in-place operation"). So no compute dtype is refused on the CPU.
- fp16 mixed precision trains on the CPU in transformers 5.23 with use_cpu=True, but the training child
  refuses it (worker/training/sft.py: "fp16 mixed precision needs a GPU"): rejected here first, when the
  caller says no GPU is available.
- DeepSpeed through the real child (torchrun, gloo): full ZeRO-0/1/2/3, ZeRO-2 + optimizer offload,
  QLoRA ZeRO-3 with 2 processes, QLoRA ZeRO-3 + optimizer and parameter offload, and full on 2 processes
  without ZeRO (plain DDP) all train; in-process, lora/ptuning/prefix/prompt/ia3/adapter/freeze under
  ZeRO-3 and QLoRA under ZeRO-2/3 train too. So neither "QLoRA with ZeRO" nor "several processes without
  ZeRO" is refused: both run (the planner, not this module, advises on memory).
- Every method with gradient checkpointing, bf16 and pure_bf16: all train, except prefix tuning with
  gradient checkpointing (below).
"""

from __future__ import annotations

from app.jobs.hyperparameters import METHODS, TrainHyperparameters


def deepspeed_problems(
    zero_stage: int | None, offload_optimizer: bool, offload_params: bool
) -> list[tuple[str, str]]:
    """The offload x ZeRO-stage rules, written once: the API, the planner and the child's DeepSpeed config
    all call this. QLoRA x ZeRO-3 is NOT refused: it trains (see above), so the planner models it."""
    problems: list[tuple[str, str]] = []
    if offload_params and zero_stage != 3:
        problems.append(
            ("offload_params", "parameter offload needs zero_stage 3: only ZeRO-3 partitions the parameters")
        )
    # Not a crash but a silent no-op: DeepSpeed builds its (offloading) ZeRO optimizer only for stages 1-3
    # (deepspeed/runtime/engine.py, _configure_optimizer), so at stage 0 the option would be ignored.
    if offload_optimizer and zero_stage in (None, 0):
        problems.append(
            (
                "offload_optimizer",
                "optimizer offload needs zero_stage 1, 2 or 3: at stage 0 DeepSpeed would silently ignore it",
            )
        )
    return problems


def precision_problems(precision: str, gpu_available: bool | None) -> list[tuple[str, str]]:
    """Precision x device: fp16 autocast + loss scaling is a GPU feature; the child refuses it on a CPU."""
    if gpu_available is False and precision == "fp16":
        return [
            ("precision", "fp16 mixed precision needs a GPU; choose auto, bf16 or fp32 to train on the CPU")
        ]
    return []


def check_method_combination(
    method: str, hp: TrainHyperparameters, *, gpu_available: bool | None = None
) -> list[tuple[str, str]]:
    """Every reason ``method`` with ``hp`` cannot run, as ``(field, sentence)``; empty when it can.

    ``gpu_available``: whether the workers that will run the job have a CUDA GPU; None (unknown) skips the
    rules that depend on the device.
    """
    problems: list[tuple[str, str]] = []
    if method not in METHODS:
        return [("method", f"unknown method {method!r}; choose one of {', '.join(METHODS)}")]
    problems += deepspeed_problems(hp.zero_stage, hp.offload_optimizer, hp.offload_params)

    # --- precision and device -------------------------------------------------------------------------------
    problems += precision_problems(hp.precision, gpu_available)

    # --- method-specific ------------------------------------------------------------------------------------
    if method == "prefix" and hp.gradient_checkpointing:
        # Ran it: transformers turns the KV cache off under gradient checkpointing, PEFT's prefix then never
        # reaches attention, and the first step fails ("The size of tensor a (32) must match the size of
        # tensor b (36) at non-singleton dimension 3").
        problems.append(
            (
                "gradient_checkpointing",
                "prefix tuning does not work with gradient checkpointing (the prefix travels in the key/value"
                " cache, which checkpointing turns off); turn gradient_checkpointing off or use P-tuning",
            )
        )

    return problems
