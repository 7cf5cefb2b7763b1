"""Packing and padding: packed examples must not see each other (same loss as unpacked), pads are ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM

from worker.training.chat_data import IGNORE_INDEX, encode_conversation
from worker.training.collate import Collator, pack_examples, unpacked_rows


def _examples(tokenizer: Any, h: Any, n: int = 5) -> list:
    return [encode_conversation(tokenizer, h.conversation(i, system=i % 2 == 0)) for i in range(n)]


def _summed_loss(model: Any, batch: dict[str, torch.Tensor]) -> float:
    """Sum (not mean) of token losses, so differently batched runs are comparable.

    use_cache=False as in training (model_loading sets it): with a KV cache transformers does not look for
    packed sequences in the position ids."""
    labels = batch.pop("labels")
    with torch.no_grad():
        logits = model(**batch, use_cache=False).logits.float()
    shifted = labels[:, 1:].reshape(-1)
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), shifted, ignore_index=IGNORE_INDEX, reduction="sum"
    ).item()


def test_packed_loss_equals_unpacked_loss(tiny_model_dir: Path, tiny_tokenizer: Any, h: Any) -> None:
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32).eval()
    examples = _examples(tiny_tokenizer, h)
    collator = Collator(pad_token_id=tiny_tokenizer.pad_token_id)
    max_len = int(max(len(e) for e in examples) * 2.2)
    packed = pack_examples(examples, max_len=max_len)
    assert 1 < len(packed) < len(examples)  # several examples share a row, and the limit splits rows
    assert all(len(row["input_ids"]) <= max_len for row in packed)
    unpacked_total = sum(_summed_loss(model, collator([row])) for row in unpacked_rows(examples))
    packed_total = _summed_loss(model, collator(packed))  # also pads the shorter packed row
    assert abs(packed_total - unpacked_total) < 1e-3, (packed_total, unpacked_total)
    # Without the position-id restarts the examples would attend to each other and the loss would change.
    leaky = collator(packed)
    del leaky["position_ids"]
    # (A random-init model attends almost uniformly, so the leak moves the loss only a little, but surely.)
    assert abs(_summed_loss(model, leaky) - unpacked_total) > 0.05


def test_padding_masks_and_counts_real_tokens(tiny_tokenizer: Any, h: Any) -> None:
    examples = _examples(tiny_tokenizer, h, 3)
    collator = Collator(pad_token_id=tiny_tokenizer.pad_token_id)
    batch = collator(unpacked_rows(examples))
    lengths = [len(e) for e in examples]
    assert batch["input_ids"].shape == (3, max(lengths))
    assert batch["attention_mask"].sum(dim=1).tolist() == lengths
    pad_positions = batch["attention_mask"] == 0
    assert (batch["labels"][pad_positions] == IGNORE_INDEX).all()
    assert (batch["input_ids"][pad_positions] == tiny_tokenizer.pad_token_id).all()
    assert collator.tokens_seen == sum(lengths)


def _mean_loss(model: Any, batch: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        return model(**batch, use_cache=False).loss.item()


def test_padding_free_batches_give_the_padded_loss(tiny_model_dir: Path, tiny_tokenizer: Any, h: Any) -> None:
    """#12: the loss of a padding-free batch (best-fit packed rows, and the fully flattened batch of the
    flash-attention path) equals the loss of the same examples padded, in fp32."""
    from worker.training.collate import FlatteningCollator

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32).eval()
    examples = _examples(tiny_tokenizer, h, 6)
    padded = _mean_loss(model, Collator(pad_token_id=tiny_tokenizer.pad_token_id)(unpacked_rows(examples)))
    packed_rows = pack_examples(examples, max_len=max(len(e) for e in examples) * 3)
    packed = _mean_loss(model, Collator(pad_token_id=tiny_tokenizer.pad_token_id)(packed_rows))
    flat_collator = FlatteningCollator(pad_token_id=tiny_tokenizer.pad_token_id)
    flat_batch = flat_collator(unpacked_rows(examples))
    assert flat_batch["input_ids"].shape[0] == 1 and "attention_mask" not in flat_batch  # no padding at all
    flat = _mean_loss(model, flat_batch)
    assert packed == pytest.approx(padded, abs=1e-5) and flat == pytest.approx(padded, abs=1e-5)
    labelled = sum(sum(1 for t in e.labels[1:] if t != IGNORE_INDEX) for e in examples)
    assert flat_collator.label_tokens_seen == labelled


def test_best_fit_packs_tighter_than_in_order(tiny_tokenizer: Any, h: Any) -> None:
    examples = _examples(tiny_tokenizer, h, 12)
    lengths = sorted(len(e) for e in examples)
    max_len = lengths[-1] + lengths[0] + 1
    rows = pack_examples(examples, max_len=max_len)
    assert all(len(r["input_ids"]) <= max_len for r in rows)
    assert sum(len(r["input_ids"]) for r in rows) == sum(lengths)
    in_order, used = 1, 0  # rows the old in-order greedy packing needed
    for n in (len(e) for e in examples):
        if used and used + n > max_len:
            in_order, used = in_order + 1, 0
        used += n
    assert len(rows) <= in_order


def test_packing_is_exact_only_where_the_mask_comes_from_position_ids() -> None:
    from worker.training.collate import packing_is_exact

    assert packing_is_exact("llama", "lora") and packing_is_exact("qwen2", "full")
    assert not packing_is_exact("llama", "prefix") and not packing_is_exact("llama", "ptuning")
    assert not packing_is_exact("no_such_model", "lora") and not packing_is_exact(None, "lora")
