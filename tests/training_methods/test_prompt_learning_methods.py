"""P-tuning (MLP, LSTM), prefix, prompt tuning and IA3 train a tiny model and reload with the same logits."""

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

from worker.training.methods import prompt_learning

CASES = [
    ("ptuning", {"encoder_reparameterization_type": "MLP"}),
    ("ptuning", {"encoder_reparameterization_type": "LSTM"}),
    ("prefix", {}),
    ("prompt", {}),
    ("ia3", {}),
]


@pytest.mark.parametrize(("method_id", "extra"), CASES, ids=[f"{m}-{e}" for m, e in CASES])
def test_trains_and_reloads(tiny_llama, tmp_path, method_id, extra):
    from peft import PeftModel

    hp = make_hp(num_virtual_tokens=8, encoder_hidden_size=32, **extra)
    base = load_base(tiny_llama, **prompt_learning.load_kwargs(hp))
    frozen_before = {n: p.detach().clone() for n, p in base.named_parameters()}
    model = prompt_learning.prepare(base, hp, method_id=method_id)
    assert count_params(model, trainable_only=True) > 0

    batch = sample_batch(tiny_llama)
    lr = 3e-2 if method_id in ("prompt", "ia3") else 1e-2
    assert_loss_went_down(train_steps(model, batch, steps=10, lr=lr))
    # The base model stays frozen: only the prompt / prefix / IA3 vectors trained.
    for name, param in base.named_parameters():
        if name in frozen_before:
            assert torch.equal(param, frozen_before[name]), f"{name} changed"

    model.eval()
    with torch.no_grad():
        expected = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    model.save_pretrained(tmp_path / "adapter")
    reloaded = PeftModel.from_pretrained(load_base(tiny_llama), tmp_path / "adapter").eval()
    with torch.no_grad():
        got = reloaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_unknown_id_is_a_clear_error():
    with pytest.raises(ValueError, match="not 'lora'"):
        prompt_learning.peft_config(make_hp(), "lora")


def test_ia3_rejects_an_architecture_peft_does_not_know():
    with pytest.raises(ValueError, match="IA3 does not know"):
        prompt_learning.peft_config(make_hp(), "ia3", model_type="no-such-arch")
