"""QLoRA on the CPU: bitsandbytes 4-bit NF4 (double quant, compute dtypes) and 8-bit train a tiny model, with
an eval-mode forward in between (what breaks 4-bit training on AVX512-BF16 CPUs without the workaround)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_methods_helpers import assert_loss_went_down, load_base, make_hp, sample_batch, train_steps

from worker.training.methods import qlora

pytest.importorskip("bitsandbytes", reason="QLoRA needs bitsandbytes")


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        {"quant_bits": 4, "double_quant": True, "bnb_compute_dtype": "fp32"},
        {"quant_bits": 4, "double_quant": False, "bnb_compute_dtype": "bf16", "gradient_checkpointing": True},
        {"quant_bits": 8},
        {"quant_bits": 4, "zero_stage": 3},
    ],
    ids=["nf4-dq-fp32", "nf4-bf16-gc", "int8", "nf4-zero3-storage"],
)
def test_qlora_trains(tiny_qwen2, overrides):
    import bitsandbytes as bnb

    hp = make_hp(lora_target_modules="all-linear", **overrides)
    model = load_base(tiny_qwen2, **qlora.load_kwargs(hp))
    quantised = bnb.nn.Linear4bit if hp.quant_bits == 4 else bnb.nn.Linear8bitLt
    assert any(isinstance(m, quantised) for m in model.modules()), "the base model was not quantised"
    model = qlora.prepare(model, hp, method_id="qlora")
    if hp.quant_bits == 4:
        four_bit = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
        assert four_bit and not any(m.support_avx512bf16_for_cpu for m in four_bit)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert_loss_went_down(train_steps(model, sample_batch(tiny_qwen2), steps=8, lr=1e-2))


def _cpu_has_avx512_bf16() -> bool:
    try:
        return " avx512_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@pytest.mark.skipif(
    torch.cuda.is_available() or not _cpu_has_avx512_bf16(), reason="needs a CPU with AVX512-BF16"
)
def test_without_the_workaround_4bit_training_breaks_after_an_eval_forward(tiny_qwen2):
    """Why qlora.prepare turns the AVX512-BF16 repack off: without it, this CPU fails (STACK-NOTES). If this
    test starts failing, bitsandbytes fixed the bug and the workaround can go."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    model = load_base(tiny_qwen2, **qlora.load_kwargs(make_hp()))
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        train_steps(model, sample_batch(tiny_qwen2), steps=5, lr=1e-2)


def test_prepare_refuses_an_unquantised_model(tiny_llama):
    with pytest.raises(ValueError, match="QLoRA needs the base model loaded"):
        qlora.prepare(load_base(tiny_llama), make_hp(), method_id="qlora")


def test_load_kwargs_carry_the_chosen_quantisation():
    config = qlora.load_kwargs(make_hp(quant_bits=4, double_quant=False, bnb_compute_dtype="bf16"))[
        "quantization_config"
    ]
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant is False and config.bnb_4bit_compute_dtype == torch.bfloat16
    assert qlora.load_kwargs(make_hp(quant_bits=8))["quantization_config"].load_in_8bit
    zero3 = qlora.load_kwargs(make_hp(zero_stage=3))["quantization_config"]
    assert zero3.bnb_4bit_quant_storage == torch.float32  # one dtype for ZeRO-3's flat shards
