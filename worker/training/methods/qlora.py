"""QLoRA: LoRA on a base model quantised by bitsandbytes (Dettmers et al. 2023).

4-bit NF4 with optional double quantisation and a chosen compute dtype, or LLM.int8 8-bit; k-bit
preparation (norms and embeddings in fp32, input grads on) before the LoRA layers go on. The LoRA part is
the core ``lora`` method's, so targets and presets mean the same for both.

On CPUs with AVX512-BF16, an eval-mode forward repacks the 4-bit weights for a bf16 kernel, and the next
training step fails ("a view of a leaf Variable that requires grad is being used in an in-place
operation", ../shared/STACK-NOTES.md); turning that kernel off on every Linear4bit is the tested workaround.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from app.jobs.hyperparameters import TrainHyperparameters

_TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def _device_map() -> dict[str, Any]:
    """Put the whole quantised model on this process's device (bitsandbytes quantises at load time there)."""
    import os

    import torch

    if torch.cuda.is_available():
        return {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return {"": "cpu"}


def quantization_config(hp: TrainHyperparameters) -> Any:
    """The BitsAndBytesConfig for ``hp.quant_bits`` (4: NF4, double quant, compute dtype; 8: LLM.int8)."""
    import torch
    from transformers import BitsAndBytesConfig

    if hp.quant_bits == 4:
        extra: dict[str, Any] = {}
        if hp.zero_stage == 3:
            # ZeRO-3 shards every parameter as one flat buffer of one dtype: the packed 4-bit weights must
            # be stored in the same dtype as the rest of the model (PEFT docs, "Use PEFT QLoRA and
            # DeepSpeed with ZeRO3"), not bitsandbytes' default uint8.
            extra["bnb_4bit_quant_storage"] = torch.bfloat16 if hp.precision == "pure_bf16" else torch.float32
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=hp.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, _TORCH_DTYPES[hp.bnb_compute_dtype]),
            **extra,
        )
    if hp.quant_bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ValueError(f"quant_bits must be 4 or 8, got {hp.quant_bits!r}")


def load_kwargs(hp: TrainHyperparameters) -> dict[str, Any]:
    """``quantization_config`` and ``device_map`` for from_pretrained (quantisation happens while loading)."""
    from worker.training.methods.full import base_load_kwargs

    # dtype applies to the layers bitsandbytes leaves unquantised (embeddings, norms, head).
    return {
        **base_load_kwargs(hp, "qlora"),
        "quantization_config": quantization_config(hp),
        "device_map": _device_map(),
    }


def disable_avx512_bf16_repack(model: torch.nn.Module) -> int:
    """Apply the STACK-NOTES workaround on every bnb Linear4bit; return how many layers were changed."""
    import bitsandbytes as bnb

    changed = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
            changed += 1
    return changed


def prepare(model: PreTrainedModel, hp: TrainHyperparameters, *, method_id: str) -> torch.nn.Module:
    """k-bit preparation, the AVX512-BF16 workaround, then the core LoRA method's adapters."""
    from peft import prepare_model_for_kbit_training

    from worker.training.methods import lora

    if not getattr(model, "is_quantized", False):
        raise ValueError(
            "QLoRA needs the base model loaded with qlora.load_kwargs (bitsandbytes quantisation)"
        )
    model = prepare_model_for_kbit_training(
        model,
        use_gradient_checkpointing=hp.gradient_checkpointing,
        # Non-reentrant checkpointing works with frozen quantised inputs without extra hooks.
        gradient_checkpointing_kwargs={"use_reentrant": False},
    )
    disable_avx512_bf16_repack(model)
    # The LoRA layers are the core lora method's (same targets and presets); it serves id "lora".
    return lora.prepare(model, hp, method_id="lora")


def training_arguments(hp: TrainHyperparameters, run_dir: Path) -> dict[str, Any]:
    """DeepSpeed / multi-process arguments like every method; the optimizer (e.g. paged_adamw_8bit) is the
    user's ``optim`` choice (on the CPU it falls back to non-paged, and its 8-bit state applies only to
    tensors of 4096+ elements: STACK-NOTES)."""
    from worker.training.methods.full import distributed_arguments

    return distributed_arguments(hp, run_dir)
