"""Joining the KV cache of newly prefilled requests onto a running batch (continuous batching)."""

from __future__ import annotations

from typing import Any


def mergeable(cache: Any) -> bool:
    """Only plain dynamic caches can be padded and joined (sliding-window or static caches cannot)."""
    layers = getattr(cache, "layers", None)
    return (
        type(cache).__name__ == "DynamicCache"
        and bool(layers)
        and all(type(layer).__name__ == "DynamicLayer" and layer.keys is not None for layer in layers)
    )


def merge_cache(cache: Any, mask: Any, new_cache: Any, new_mask: Any) -> Any:
    """Append ``new_cache``'s rows to ``cache`` in place, left-padding the shorter one with masked zeros;
    returns the joined attention mask."""
    import torch

    length = max(mask.shape[1], new_mask.shape[1])

    def left_pad(t: Any, missing: int, dim: int) -> Any:
        if missing == 0:
            return t
        shape = list(t.shape)
        shape[dim] = missing
        return torch.cat([torch.zeros(shape, dtype=t.dtype, device=t.device), t], dim=dim)

    a, b = length - mask.shape[1], length - new_mask.shape[1]
    for old, new in zip(cache.layers, new_cache.layers, strict=True):
        old.keys = torch.cat([left_pad(old.keys, a, -2), left_pad(new.keys, b, -2)])
        old.values = torch.cat([left_pad(old.values, a, -2), left_pad(new.values, b, -2)])
    return torch.cat([left_pad(mask, a, 1), left_pad(new_mask, b, 1)])
