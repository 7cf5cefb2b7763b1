"""Batches for the Trainer: padding, sequence packing, and counts of real and loss-bearing tokens.

Packing (on by default where exact, see packing_is_exact) puts several examples into one row of at most
max_seq_length tokens (best fit). Each example's position ids restart at 0 and no attention mask is passed:
transformers' masking_utils (``find_packed_sequence_indices``) then builds a block-diagonal causal mask
from the position ids, so packed examples never attend to each other (tested: the packed loss equals the
unpacked one). This holds for models that build their mask with ``create_causal_mask`` (Llama, Qwen2,
Mistral...; GPT-2 too, measured) and only without a KV cache, which is why model_loading sets
``use_cache=False``; the first label of every example is ignored so that no example is trained to predict
the next example's first token.
"""

from __future__ import annotations

import bisect
import importlib
from dataclasses import dataclass, field
from typing import Any

import torch

from worker.training.chat_data import IGNORE_INDEX, Example


def pack_examples(examples: list[Example], max_len: int) -> list[dict[str, list[int]]]:
    """Best-fit-decreasing packing into rows of at most max_len tokens: each example (longest first) goes
    into the row it fills best, so rows end up nearly full (in-order greedy packing left a row's tail
    empty whenever the next example did not fit). Rows come out in a deterministic order; the Trainer's
    seeded sampler shuffles them."""
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i]))
    rows: list[dict[str, list[int]]] = []
    free: list[tuple[int, int]] = []  # (space left, row index), sorted: bisect finds the tightest fit
    for i in order:
        example = examples[i]
        n = len(example)
        at = bisect.bisect_left(free, (n, -1))
        if at < len(free):
            space, row_index = free.pop(at)
            row = rows[row_index]
        else:
            space, row_index = max(max_len, n), len(rows)
            row = {"input_ids": [], "labels": [], "position_ids": []}
            rows.append(row)
        row["input_ids"] += example.input_ids
        row["labels"] += [IGNORE_INDEX] + example.labels[1:]
        row["position_ids"] += list(range(n))
        if space - n > 0:
            bisect.insort(free, (space - n, row_index))
    return rows


def packing_is_exact(model_type: str | None, method: str) -> bool:
    """Whether packed rows (position ids restarting per example, no attention mask) train exactly like
    separate rows: the model must build its causal mask through transformers' masking_utils
    (create_causal_mask finds the packed sequences in the position ids; Llama, Qwen2, Mistral, GPT-2...),
    and the method must not prepend virtual tokens or a key/value prefix (P-tuning, prompt and prefix
    tuning shift or extend the positions)."""
    if method in ("ptuning", "prefix", "prompt") or not model_type:
        return False
    try:
        module = importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}")
    except ImportError:
        return False
    return hasattr(module, "create_causal_mask")


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
    """Right-pads a batch; counts the real (non-pad) tokens and the loss-bearing (labelled) tokens it hands
    out, read by the metrics callback and benchmarks/throughput.py."""

    pad_token_id: int
    tokens_seen: int = field(default=0)
    label_tokens_seen: int = field(default=0)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        self.label_tokens_seen += sum(sum(1 for t in f["labels"][1:] if t != IGNORE_INDEX) for f in features)
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


class FlatteningCollator(Collator):
    """Padding-free batches for flash-attention models on a GPU: transformers' DataCollatorWithFlattening
    concatenates the batch into one row with restarting position ids, and the flash-attention varlen kernels
    keep the examples apart with no attention mask at all (instead of a dense block mask)."""

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        from transformers import DataCollatorWithFlattening

        self.tokens_seen += sum(len(f["input_ids"]) for f in features)
        self.label_tokens_seen += sum(sum(1 for t in f["labels"][1:] if t != IGNORE_INDEX) for f in features)
        plain = [{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features]
        return DataCollatorWithFlattening(return_tensors="pt")(plain)
