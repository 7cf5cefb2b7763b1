"""Bottleneck adapters: placement after the MLP and before the residual, < 5 % extra parameters, training,
save / load round trip with identical logits."""

from __future__ import annotations

import pytest
import torch
from training_methods_helpers import (
    assert_loss_went_down,
    count_params,
    load_base,
    make_hp,
    sample_batch,
    train_steps,
)

from worker.training.methods import adapter


def test_starts_as_identity_and_adds_under_5_percent(tiny_llama):
    base = load_base(tiny_llama)
    batch = sample_batch(tiny_llama)
    with torch.no_grad():
        before = base(input_ids=batch["input_ids"]).logits
    total = count_params(base)
    model = adapter.prepare(base, make_hp(adapter_bottleneck_size=8), method_id="adapter")
    extra = count_params(model, trainable_only=True)
    # 2 layers x (2 * 64 * 8 + 8 + 64) parameters, computed from the model rather than typed in.
    hidden, layers = model.config.hidden_size, model.config.num_hidden_layers
    assert extra == layers * (2 * hidden * 8 + 8 + hidden)
    assert extra / total < 0.05, f"adapters add {extra / total:.1%} parameters"
    with torch.no_grad():
        after = model(input_ids=batch["input_ids"]).logits
    torch.testing.assert_close(after, before)  # zero-initialised up-projection: exactly the base model


def test_adapter_sits_after_the_mlp_before_the_residual(tiny_llama):
    model = adapter.prepare(load_base(tiny_llama), make_hp(adapter_bottleneck_size=8), method_id="adapter")
    layer = model.model.layers[0]
    torch.nn.init.normal_(layer.mlp.adapter.up.weight, std=0.5)  # make the adapter do something visible
    seen: dict[str, torch.Tensor] = {}
    layer.post_attention_layernorm.register_forward_hook(lambda m, i, o: seen.__setitem__("residual", i[0]))
    layer.mlp.down_proj.register_forward_hook(lambda m, i, o: seen.__setitem__("mlp_out", o))
    layer.register_forward_hook(
        lambda m, i, o: seen.__setitem__("layer_out", o[0] if isinstance(o, tuple) else o)
    )
    batch = sample_batch(tiny_llama, rows=2)
    with torch.no_grad():
        model(input_ids=batch["input_ids"])
        mlp_out = seen["mlp_out"]
        expected = (
            seen["residual"]
            + mlp_out
            + layer.mlp.adapter.up(layer.mlp.adapter.act(layer.mlp.adapter.down(mlp_out)))
        )
    torch.testing.assert_close(seen["layer_out"], expected)


def test_trains_only_adapters_and_reloads(tiny_qwen2, tmp_path):
    hp = make_hp(adapter_bottleneck_size=16, adapter_non_linearity="gelu")
    base = load_base(tiny_qwen2)
    frozen = {n: p.detach().clone() for n, p in base.named_parameters()}
    model = adapter.prepare(base, hp, method_id="adapter")
    assert all(".adapter." in n for n, p in model.named_parameters() if p.requires_grad)
    batch = sample_batch(tiny_qwen2)
    assert_loss_went_down(train_steps(model, batch, steps=10, lr=1e-2))
    for name, param in model.named_parameters():
        if name in frozen:
            assert torch.equal(param, frozen[name]), f"base weight {name} changed"

    model.eval()
    with torch.no_grad():
        expected = model(input_ids=batch["input_ids"]).logits
    adapter.save_adapter(model, tmp_path / "adapter", base_model=str(tiny_qwen2))
    config = adapter.read_adapter_config(tmp_path / "adapter")
    assert config["bottleneck_size"] == 16 and config["non_linearity"] == "gelu"
    reloaded = adapter.load_adapter(load_base(tiny_qwen2), tmp_path / "adapter", 16, "gelu").eval()
    with torch.no_grad():
        got = reloaded(input_ids=batch["input_ids"]).logits
    torch.testing.assert_close(got, expected)


def test_load_rejects_mismatched_weights(tiny_llama, tmp_path):
    model = adapter.prepare(load_base(tiny_llama), make_hp(adapter_bottleneck_size=8), method_id="adapter")
    adapter.save_adapter(model, tmp_path / "a")
    with pytest.raises(RuntimeError, match="size mismatch"):
        adapter.load_adapter(load_base(tiny_llama), tmp_path / "a", 16, "relu")
    with pytest.raises(ValueError, match="no adapter weights"):
        adapter.load_adapter(load_base(tiny_llama), tiny_llama, 8, "relu")
