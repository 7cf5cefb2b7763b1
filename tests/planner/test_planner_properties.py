"""Monotonicity and consistency properties of the estimate, as tables of (change -> expected direction)."""

from __future__ import annotations

import pytest

from app.planner import PlanRequest, load_model_shape, plan
from app.planner.activations import activations
from app.planner.memory import model_states
from app.planner.zero import shard

MODELS = ["Qwen/Qwen2-7B", "meta-llama/Llama-2-7b-hf", "THUDM/chatglm3-6b", "bigscience/bloom-560m"]


def _peak(**kw: object) -> int:
    base = {"model": "Qwen/Qwen2-7B", "method": "lora", "seq_len": 1024, "micro_batch": 2}
    base.update(kw)
    return plan(PlanRequest(**base), with_recommendations=False).per_gpu.peak_bytes


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("method", ["full", "lora", "qlora", "ptuning", "adapter", "freeze"])
def test_more_sequence_means_more_memory(model: str, method: str) -> None:
    peaks = [_peak(model=model, method=method, seq_len=s) for s in (256, 512, 1024, 2048)]
    assert peaks == sorted(peaks) and len(set(peaks)) == 4


@pytest.mark.parametrize("flash", [False, True])
@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
def test_checkpointing_reduces_activation_memory(flash: bool, method: str) -> None:
    shape = load_model_shape("meta-llama/Llama-2-7b-hf")
    reqs = [
        PlanRequest(
            model="m",
            method=method,
            seq_len=2048,
            micro_batch=4,
            flash_attention=flash,
            gradient_checkpointing=ckpt,
        )
        for ckpt in (False, True)
    ]
    saved = [activations(shape, model_states(shape, r), r).saved_layers for r in reqs]
    assert saved[1] < saved[0] / 5
    common = {"model": "meta-llama/Llama-2-7b-hf", "method": method, "seq_len": 2048, "micro_batch": 4}
    assert _peak(**common, flash_attention=flash, gradient_checkpointing=True) < _peak(
        **common, flash_attention=flash
    )


def test_flash_attention_removes_the_quadratic_term() -> None:
    shape = load_model_shape("Qwen/Qwen2-7B")

    def per_layer(seq: int, flash: bool) -> float:
        r = PlanRequest(model="m", method="full", seq_len=seq, flash_attention=flash)
        return activations(shape, model_states(shape, r), r).saved_per_layer

    # flash: linear in s (doubling s doubles memory); eager: more than doubles (s^2 scores)
    assert per_layer(4096, True) == pytest.approx(2 * per_layer(2048, True))
    assert per_layer(4096, False) > 2.2 * per_layer(2048, False)


@pytest.mark.parametrize("model", MODELS)
def test_model_states_shrink_with_each_zero_stage(model: str) -> None:
    shape = load_model_shape(model)
    states = []
    for stage in (0, 1, 2, 3):
        r = PlanRequest(model=model, method="full", zero=stage, num_gpus=8)
        sh = shard(shape, model_states(shape, r), r)
        states.append(sum(sh.weights.values()) + sh.gradients + sh.master + sh.optimizer)
    assert states[3] < states[2] < states[1] < states[0]


@pytest.mark.parametrize(("stage", "params"), [(2, False), (3, False), (3, True)])
def test_offload_moves_bytes_from_gpu_to_cpu(stage: int, params: bool) -> None:
    common = {"model": "Qwen/Qwen2-7B", "method": "full", "zero": stage, "num_gpus": 8}
    on = plan(
        PlanRequest(**common, offload_optimizer=True, offload_params=params), with_recommendations=False
    )
    off = plan(PlanRequest(**common), with_recommendations=False)
    assert on.per_gpu.peak_bytes < off.per_gpu.peak_bytes
    assert on.cpu_bytes > off.cpu_bytes
    assert "optimizer states" not in on.per_gpu.breakdown


def test_more_gpus_never_increase_stage3_peak() -> None:
    peaks = [_peak(method="full", zero=3, num_gpus=n) for n in (1, 2, 4, 8)]
    assert peaks == sorted(peaks, reverse=True)


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ({"optimizer": "adamw-8bit"}, {"optimizer": "adamw"}),
        ({"method": "qlora"}, {"method": "lora"}),
        ({"method": "lora"}, {"method": "full"}),
        ({"method": "lora", "lora_r": 8}, {"method": "lora", "lora_r": 256}),
        ({"micro_batch": 1}, {"micro_batch": 4}),
        ({"precision": "pure-bf16"}, {"precision": "fp32"}),
        (
            {"method": "lora", "chunked_loss": True, "flash_attention": True},
            {"method": "lora", "chunked_loss": False, "flash_attention": True},
        ),
    ],
)
def test_pairwise_memory_order(low: dict, high: dict) -> None:
    common = {"method": "full"} if "method" not in low else {}
    assert _peak(**common, **low) < _peak(**common, **high)


def test_breakdown_sums_to_peak_and_phases_are_reported() -> None:
    r = plan(
        PlanRequest(model="Qwen/Qwen2-7B", method="full", zero=2, num_gpus=4), with_recommendations=False
    )
    assert sum(r.per_gpu.breakdown.values()) == r.per_gpu.peak_bytes
    assert set(r.per_gpu.phase_peaks) == {"forward", "backward", "optimizer_step"}
    assert r.per_gpu.peak_phase in r.per_gpu.phase_peaks


def test_logits_term_grows_with_vocabulary() -> None:
    """Qwen2 (152k vocab) spends more on logits and loss than Llama-2 (32k) at the same tokens."""
    common = {"seq_len": 4096, "flash_attention": True, "micro_batch": 1}
    qwen = plan(PlanRequest(model="Qwen/Qwen2-7B", **common), with_recommendations=False)
    llama = plan(PlanRequest(model="meta-llama/Llama-2-7b-hf", **common), with_recommendations=False)
    assert qwen.per_gpu.breakdown["logits and loss"] > 4 * llama.per_gpu.breakdown["logits and loss"]
    # 3 fp32 copies of b*s*V during the log-softmax backward (b=1, s=4096, V=152064)
    assert qwen.per_gpu.breakdown["logits and loss"] == 3 * 4 * 4096 * 152064


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"offload_params": True, "zero": 2}, "offload_params"),
        ({"offload_optimizer": True}, "offload_optimizer"),
        ({"seq_len": 0}, "seq_len"),
        ({"method": "dpo"}, "method"),
    ],
)
def test_bad_requests_name_the_field(fields: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        PlanRequest(model="Qwen/Qwen2-7B", **fields)


def test_bad_lora_targets_and_gpu_name_the_field() -> None:
    with pytest.raises(ValueError, match="lora_targets"):
        plan(PlanRequest(model="Qwen/Qwen2-7B", lora_targets="W_pack"))
    with pytest.raises(ValueError, match="gpu"):
        plan(PlanRequest(model="Qwen/Qwen2-7B", gpu="GTX-480"))


def test_gpu_memory_alone_overrides_the_named_cards_memory() -> None:
    """`--gpu-memory-gib 24` with the default card once planned for the catalog's 80 GB card."""
    from app.planner.gpus import get_gpu

    a100 = get_gpu("A100-80GB")
    smaller = plan(PlanRequest(model="Qwen/Qwen2-7B", gpu_memory_gib=24), with_recommendations=False)
    assert smaller.per_gpu.capacity_bytes == 24 * 2**30
    assert not smaller.fits, "a 7B LoRA at the defaults needs more than 24 GiB"
    assert plan(PlanRequest(model="Qwen/Qwen2-7B"), with_recommendations=False).per_gpu.capacity_bytes == (
        a100.memory_bytes
    )
    faster = plan(PlanRequest(model="Qwen/Qwen2-7B", gpu_tflops=624), with_recommendations=False)
    default = plan(PlanRequest(model="Qwen/Qwen2-7B"), with_recommendations=False)
    assert faster.per_gpu.capacity_bytes == a100.memory_bytes
    assert faster.seconds_per_step < default.seconds_per_step
    with pytest.raises(ValueError, match="gpu_tflops"):
        plan(PlanRequest(model="Qwen/Qwen2-7B", gpu="GTX-480", gpu_memory_gib=1.5))
