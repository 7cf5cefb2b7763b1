"""Batches for the Trainer: padding, optional sequence packing, and a count of real tokens for tokens/s.

Packing puts several examples into one row of at most max_seq_length tokens. Each example's position ids
restart at 0 and no attention mask is passed: transformers' masking_utils (``find_packed_sequence_indices``)
then builds a block-diagonal causal mask from the position ids, so packed examples never attend to each
other (tested: the packed loss equals the unpacked one). This holds for models that build their mask with
``create_causal_mask`` (Llama, Qwen2, Mistral...; GPT-2 too, measured) and only without a KV cache, which is
why model_loading sets ``use_cache=False``; the first label of every example is ignored so that no
example is trained to predict the next example's first token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from worker.training.chat_data import IGNORE_INDEX, Example


def pack_examples(examples: list[Example], max_len: int) -> list[dict[str, list[int]]]:
    """Greedy in-order packing into rows of at most max_len tokens (keeps the seeded data order)."""
    rows: list[dict[str, list[int]]] = []
    current: dict[str, list[int]] = {"input_ids": [], "labels": [], "position_ids": []}
    for example in examples:
        if current["input_ids"] and len(current["input_ids"]) + len(example) > max_len:
            rows.append(current)
            current = {"input_ids": [], "labels": [], "position_ids": []}
        current["input_ids"] += example.input_ids
        current["labels"] += [IGNORE_INDEX] + example.labels[1:]
        current["position_ids"] += list(range(len(example)))
    if current["input_ids"]:
        rows.append(current)
    return rows


def unpacked_rows(examples: list[Example]) -> list[dict[str, list[int]]]:
    return [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]


class ListDataset(torch.utils.data.Dataset):
    """A list of feature dicts as a map-style dataset (the Trainer needs __len__ and __getitem__)."""

    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.rows[index]


@dataclass
class Collator:
    """Right-pads a batch; counts the real (non-pad) tokens it hands out, read by the metrics callback."""

    pad_token_id: int
    tokens_seen: int = field(default=0)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        packed = "position_ids" in features[0]
        batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": []}
        if packed:
            batch["position_ids"] = []
        else:
            batch["attention_mask"] = []
        for f in features:
            n = len(f["input_ids"])
            pad = longest - n
            self.tokens_seen += n
            batch["input_ids"].append(list(f["input_ids"]) + [self.pad_token_id] * pad)
            batch["labels"].append(list(f["labels"]) + [IGNORE_INDEX] * pad)
            if packed:
                # Padding is one more "sequence" restarting at position 0, so it stays in its own block.
                batch["position_ids"].append(list(f["position_ids"]) + list(range(pad)))
            else:
                batch["attention_mask"].append([1] * n + [0] * pad)
        return {key: torch.tensor(value, dtype=torch.long) for key, value in batch.items()}
