"""Freeze tuning trains exactly the last k layers; full fine-tuning trains everything; DeepSpeed args."""

from __future__ import annotations

import json

import pytest
import torch
from training_methods_helpers import assert_loss_went_down, load_base, make_hp, sample_batch, train_steps

from worker.training.methods import freeze, full


def test_freeze_trains_only_the_last_k_layers(tiny_qwen2):
    model = load_base(tiny_qwen2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model = freeze.prepare(model, make_hp(freeze_trainable_layers=1), method_id="freeze")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    last = model.config.num_hidden_layers - 1
    assert trainable and all(n.startswith(f"model.layers.{last}.") for n in trainable)
    assert_loss_went_down(train_steps(model, sample_batch(tiny_qwen2), steps=10, lr=5e-3))
    for name, param in model.named_parameters():
        changed = not torch.equal(param, before[name])
        assert changed == (name in trainable), name


def test_freeze_rejects_more_layers_than_the_model_has(tiny_llama):
    with pytest.raises(ValueError, match="only 2 layers"):
        freeze.prepare(load_base(tiny_llama), make_hp(freeze_trainable_layers=5), method_id="freeze")


def test_full_trains_every_parameter(tiny_llama):
    model = load_base(tiny_llama)
    for p in model.parameters():
        p.requires_grad_(False)  # a checkpoint may arrive partly frozen
    model = full.prepare(model, make_hp(), method_id="full")
    assert all(p.requires_grad for p in model.parameters())
    assert_loss_went_down(train_steps(model, sample_batch(tiny_llama), steps=8, lr=3e-3))


def test_pure_bf16_loads_bf16_weights(tiny_llama):
    model = load_base(tiny_llama, **full.load_kwargs(make_hp(precision="pure_bf16")))
    assert next(model.parameters()).dtype == torch.bfloat16


def test_distributed_arguments_write_the_deepspeed_file(tmp_path):
    assert full.training_arguments(make_hp(), tmp_path) == {}
    args = full.training_arguments(make_hp(zero_stage=3, offload_params=True, num_processes=2), tmp_path)
    written = json.loads((tmp_path / "deepspeed_config.json").read_text())
    assert args["deepspeed"] == str(tmp_path / "deepspeed_config.json")
    assert written["zero_optimization"]["stage"] == 3
    assert written["zero_optimization"]["offload_param"]["device"] == "cpu"
    if not torch.cuda.is_available():
        assert args["use_cpu"] is True and args["ddp_backend"] == "gloo"
