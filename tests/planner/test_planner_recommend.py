"""Recommendations, time ranking, the largest seq / micro-batch that fit, and what a plan launches with."""

from __future__ import annotations

import pytest

from app.planner import (
    PlanRequest,
    deepspeed_config,
    load_model_shape,
    max_micro_batch_that_fits,
    max_seq_len_that_fits,
    plan,
    recommend,
    request_from_hyperparameters,
    to_hyperparameters,
)

COURSE_ORDER = [
    (0, False, False),
    (1, False, False),
    (2, False, False),
    (2, True, False),
    (3, False, False),
    (3, True, False),
]
TYPICAL = [
    ("meta-llama/Llama-2-7b-hf", "A100-80GB", 8, 1),
    ("Qwen/Qwen2-7B", "A100-80GB", 8, 1),
    ("Qwen/Qwen2-7B", "RTX4090", 8, 1),
    ("meta-llama/Llama-2-13b-hf", "A100-80GB", 8, 2),
    ("Qwen/Qwen2-0.5B", "A10G", 2, 1),
]


def _seconds(model: str, gpu: str, gpus: int, nodes: int, stage: tuple, **kw: object) -> float:
    z, oo, op = stage
    base = {"micro_batch": 2, "grad_accum": 16, "seq_len": 2048}
    base.update(kw)
    req = PlanRequest(
        model=model,
        method="full",
        zero=z,
        offload_optimizer=oo,
        offload_params=op,
        gpu=gpu,
        num_gpus=gpus,
        num_nodes=nodes,
        flash_attention=True,
        gradient_checkpointing=True,
        **base,
    )
    return plan(req, with_recommendations=False).seconds_per_step


@pytest.mark.parametrize(("model", "gpu", "gpus", "nodes"), TYPICAL)
def test_course_speed_order_of_zero_stages(model: str, gpu: str, gpus: int, nodes: int) -> None:
    """0 > 1 > 2 > 2+offload > 3 > 3+offload in speed for a typical fine-tuning batch (2 x 16 x 2048)."""
    times = [_seconds(model, gpu, gpus, nodes, stage) for stage in COURSE_ORDER]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_order_is_computed_not_fixed_small_batches_favour_stage3_over_offload() -> None:
    """With one 1024-token micro-batch per step the CPU-Adam step is not amortised: ZeRO-3 beats 2+offload."""
    args = ("meta-llama/Llama-2-7b-hf", "A100-80GB", 8, 1)
    small = {"micro_batch": 1, "grad_accum": 1, "seq_len": 1024}
    assert _seconds(*args, (3, False, False), **small) < _seconds(*args, (2, True, False), **small)


def test_recommendations_fit_are_ranked_and_replayable() -> None:
    req = PlanRequest(
        model="Qwen/Qwen2-7B",
        method="full",
        num_gpus=8,
        seq_len=2048,
        micro_batch=4,
        flash_attention=True,
        gpu="A100-80GB",
    )
    recs = recommend(req, top_k=5)
    assert 1 <= len(recs) <= 5
    assert [r.rank for r in recs] == list(range(1, len(recs) + 1))
    same_method = [r for r in recs if r.method == "full"]
    times = [r.estimated_seconds for r in same_method]
    assert times == sorted(times)
    for rec in recs:
        again = plan(PlanRequest.model_validate(rec.request), with_recommendations=False)
        assert again.fits and again.per_gpu.peak_bytes == rec.peak_bytes
        assert rec.micro_batch * rec.grad_accum >= req.micro_batch * req.grad_accum
        assert rec.reason


def test_when_full_does_not_fit_alternatives_are_offered() -> None:
    req = PlanRequest(model="Qwen/Qwen2-7B", method="full", gpu="RTX4090", seq_len=1024, flash_attention=True)
    result = plan(req)
    assert not result.fits
    assert result.recommendations, "a 24 GiB card should still fit QLoRA of a 7B model"
    assert all(r.method in ("full", "lora", "qlora") for r in result.recommendations)
    assert {r.method for r in result.recommendations} & {"lora", "qlora"}


def test_nothing_fits_gives_no_recommendation() -> None:
    req = PlanRequest(
        model="meta-llama/Llama-2-13b-hf", method="qlora", gpu="T4", seq_len=65536, precision="fp16"
    )
    assert recommend(req) == []


@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
def test_max_seq_len_is_the_boundary(method: str) -> None:
    req = PlanRequest(
        model="meta-llama/Llama-2-7b-hf",
        method=method,
        gpu="A100-40GB",
        flash_attention=True,
        gradient_checkpointing=True,
        precision="pure-bf16",
    )
    shape = load_model_shape(req.model)
    best = max_seq_len_that_fits(req)
    if best == 0:
        assert not plan(req.model_copy(update={"seq_len": 1}), with_recommendations=False).fits
        return
    assert plan(req.model_copy(update={"seq_len": best}), with_recommendations=False).fits
    if best < shape.max_position_embeddings:
        assert not plan(req.model_copy(update={"seq_len": best + 1}), with_recommendations=False).fits


def test_max_micro_batch_is_the_boundary() -> None:
    req = PlanRequest(model="Qwen/Qwen2-0.5B", method="lora", gpu="L4", seq_len=1024, flash_attention=True)
    best = max_micro_batch_that_fits(req)
    assert best >= 1
    assert plan(req.model_copy(update={"micro_batch": best}), with_recommendations=False).fits
    assert not plan(req.model_copy(update={"micro_batch": best + 1}), with_recommendations=False).fits


@pytest.mark.parametrize(
    ("stage", "oo", "op"),
    [(0, False, False), (1, False, False), (2, True, False), (3, False, False), (3, True, True)],
)
def test_deepspeed_config_is_what_the_worker_writes(stage: int, oo: bool, op: bool) -> None:
    from app.jobs.hyperparameters import TrainHyperparameters
    from worker.training.deepspeed_config import deepspeed_config as worker_config

    req = PlanRequest(
        model="Qwen/Qwen2-7B", method="full", zero=stage, offload_optimizer=oo, offload_params=op, num_gpus=8
    )
    hp = {k: v for k, v in to_hyperparameters(req).items() if k != "method"}
    assert deepspeed_config(req) == worker_config(TrainHyperparameters(**hp))
    cfg = deepspeed_config(req)
    assert cfg["zero_optimization"]["stage"] == stage
    if stage == 3:  # the course's stage-3 keys
        for key in (
            "stage3_prefetch_bucket_size",
            "stage3_param_persistence_threshold",
            "stage3_max_live_parameters",
            "stage3_max_reuse_distance",
            "stage3_gather_16bit_weights_on_model_save",
            "sub_group_size",
            "reduce_bucket_size",
        ):
            assert key in cfg["zero_optimization"]


def test_hyperparameters_round_trip_and_validate() -> None:
    from app.jobs.hyperparameters import TrainHyperparameters

    req = PlanRequest(
        model="Qwen/Qwen2-7B",
        method="qlora",
        lora_r=16,
        micro_batch=4,
        grad_accum=2,
        seq_len=2048,
        precision="pure-bf16",
        optimizer="paged-adamw-8bit",
        zero=2,
        gradient_checkpointing=True,
        num_gpus=2,
        quant_bits=4,
    )
    hp = to_hyperparameters(plan(req, with_recommendations=False))
    assert hp["method"] == "qlora" and hp["precision"] == "pure_bf16" and hp["optim"] == "paged_adamw_8bit"
    TrainHyperparameters(**{k: v for k, v in hp.items() if k != "method"})  # FT Studio accepts every value
    back, notes = request_from_hyperparameters("Qwen/Qwen2-7B", hp)
    assert notes == []
    for field in (
        "method",
        "lora_r",
        "micro_batch",
        "grad_accum",
        "seq_len",
        "precision",
        "optimizer",
        "zero",
        "gradient_checkpointing",
        "num_gpus",
        "quant_bits",
    ):
        assert getattr(back, field) == getattr(req, field), field


def test_training_arguments_carry_the_plan() -> None:
    req = PlanRequest(
        model="Qwen/Qwen2-7B",
        method="full",
        zero=3,
        micro_batch=2,
        grad_accum=8,
        gradient_checkpointing=True,
        num_gpus=4,
    )
    args = plan(req, with_recommendations=False).training_arguments
    assert args["per_device_train_batch_size"] == 2 and args["gradient_accumulation_steps"] == 8
    assert args["gradient_checkpointing"] is True and args["bf16"] is True
    assert args["deepspeed"]["zero_optimization"]["stage"] == 3


def test_training_time_scales_with_tokens_and_gpus() -> None:
    common = {"model": "meta-llama/Llama-2-7b-hf", "method": "lora", "seq_len": 2048, "flash_attention": True}
    one = plan(PlanRequest(**common, train_tokens=10**8), with_recommendations=False).estimated_seconds
    two = plan(PlanRequest(**common, train_tokens=2 * 10**8), with_recommendations=False).estimated_seconds
    eight = plan(PlanRequest(**common, train_tokens=10**8, num_gpus=8), with_recommendations=False)
    assert two == pytest.approx(2 * one, rel=0.01)
    assert eight.estimated_seconds < one / 6
    full = plan(PlanRequest(**{**common, "method": "full"}, train_tokens=10**8), with_recommendations=False)
    assert full.estimated_seconds > one  # 6N vs ~4N FLOPs per token


def test_plan_reports_the_limits_it_computes() -> None:
    req = PlanRequest(
        model="Qwen/Qwen2-0.5B", method="lora", gpu="T4", precision="fp16", flash_attention=True
    )
    result = plan(req)
    assert result.max_seq_len == max_seq_len_that_fits(req)
    assert result.max_micro_batch == max_micro_batch_that_fits(req)
    assert result.max_micro_batch >= 1 and result.max_seq_len >= req.seq_len
