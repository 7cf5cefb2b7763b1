"""Load a model (+ optional PEFT adapter) and its tokenizer for evaluation. torch / transformers / peft."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker.safe_loading import check_adapter_folder, weight_kwargs


class ModelLoadError(ValueError):
    """The model, adapter or tokenizer could not be loaded; the message says which and why."""


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_for_eval(
    path: str,
    *,
    gguf_file: str | None = None,
    trust_remote_code: bool = False,
    adapter_path: str | None = None,
    device: str | None = None,
) -> tuple[Any, Any]:
    """(model in eval mode on ``device``, tokenizer). The tokenizer comes from the adapter folder when it has
    one (a fine-tune may have added tokens), else from the base model. Weights load as safetensors through
    from_pretrained; trust_remote_code stays off unless asked for."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or pick_device()
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    # bf16 on a GPU halves memory and is how these models are served; fp32 on the CPU (bf16 matmuls are slow
    # there and change the numbers).
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, **weight_kwargs(gguf_file=gguf_file, trust_remote_code=trust_remote_code)
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load model {path!r}: {exc}") from None
    tok_source = path
    if adapter_path:
        if not Path(adapter_path, "adapter_config.json").is_file():
            raise ModelLoadError(f"{adapter_path!r} is not a PEFT adapter folder (no adapter_config.json)")
        from peft import PeftModel

        if Path(adapter_path, "tokenizer_config.json").is_file():
            tok_source = adapter_path
        try:
            check_adapter_folder(adapter_path)
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
        model = PeftModel.from_pretrained(model, adapter_path)
    try:
        tok_kwargs = {k: v for k, v in kwargs.items() if tok_source == path or k == "trust_remote_code"}
        tokenizer = AutoTokenizer.from_pretrained(tok_source, **tok_kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load the tokenizer from {tok_source!r}: {exc}") from None
    model.to(device)
    model.eval()
    return model, tokenizer
