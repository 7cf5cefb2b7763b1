"""Keyword arguments every from_pretrained of weights passes: safetensors only, never a pickle.

A ``.bin``/``.pt`` checkpoint is a pickle and can run code when loaded; ``use_safetensors=True`` makes
transformers refuse a folder that has only those. GGUF files are read by transformers' GGUF parser (no
pickle), so they load without the flag. trust_remote_code is passed through as the job's config says:
the web side sets it only for models on the admin's allow-list (base_models.trust_remote_code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def weight_kwargs(*, gguf_file: str | None, trust_remote_code: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"trust_remote_code": bool(trust_remote_code)}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    else:
        kwargs["use_safetensors"] = True
    return kwargs


def check_adapter_folder(adapter_path: str | Path) -> None:
    """A PEFT adapter must be safetensors: peft would fall back to torch.load of adapter_model.bin."""
    folder = Path(adapter_path)
    if not (folder / "adapter_model.safetensors").is_file():
        raise ValueError(f"{folder} has no adapter_model.safetensors; FT Studio reads safetensors only")
