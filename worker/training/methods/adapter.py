"""Bottleneck adapters (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP"), our own module.

Each transformer layer's feed-forward block gets a small bottleneck after it, before the residual add:
``h = mlp(x);  h = h + up(act(down(h)));  out = residual + h``. ``up`` starts at zero, so training starts
from exactly the base model (Houlsby's near-identity initialisation). Extra parameters per layer are
``2 * hidden * bottleneck + bottleneck + hidden``: with bottleneck 64 that is 1.6 % of SmolLM2-135M.

Why not a library: AdapterHub's ``adapters`` 1.3.0 (the maintained one) requires transformers ~=4.57.6,
and this stack is pinned to 5.23.0 (pyproject); PEFT has no bottleneck adapter.

The adapter is a child module ``<layer>.mlp.adapter`` applied by a forward hook, so the base model's
parameter names are unchanged: the base weights load as usual and the adapter weights are exactly the
keys containing ``.adapter.`` (what ``save_adapter`` writes and ``load_adapter`` reads back).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from worker.training.methods.freeze import decoder_layers

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from app.jobs.hyperparameters import TrainHyperparameters

ADAPTER_CONFIG = "ftstudio_adapter.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_FFN_NAMES = ("mlp", "feed_forward", "ffn")
_ACTIVATIONS = {"relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "silu": torch.nn.SiLU}


class BottleneckAdapter(torch.nn.Module):
    """``h + up(act(down(h)))`` with ``up`` zero-initialised (identity at the start of training)."""

    def __init__(self, hidden_size: int, bottleneck_size: int, non_linearity: str = "relu") -> None:
        super().__init__()
        if non_linearity not in _ACTIVATIONS:
            raise ValueError(
                f"adapter_non_linearity must be one of {', '.join(_ACTIVATIONS)}, not {non_linearity!r}"
            )
        self.down = torch.nn.Linear(hidden_size, bottleneck_size)
        self.act = _ACTIVATIONS[non_linearity]()
        self.up = torch.nn.Linear(bottleneck_size, hidden_size)
        torch.nn.init.zeros_(self.up.weight)
        torch.nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        # The adapter trains in fp32 while the frozen base may run in bf16/fp16 (as PEFT's adapters do).
        return hidden + self.up(self.act(self.down(hidden.to(self.down.weight.dtype)))).to(hidden.dtype)


def _apply_adapter(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
    # Forward hook on the feed-forward block: its output goes through the adapter before the layer adds
    # the residual (the layer's own code does `residual + mlp(x)`).
    return module.adapter(output)


def _feed_forward(layer: torch.nn.Module) -> torch.nn.Module:
    for name in _FFN_NAMES:
        block = getattr(layer, name, None)
        if isinstance(block, torch.nn.Module):
            return block
    raise ValueError(
        f"adapter: found no feed-forward block ({', '.join(_FFN_NAMES)}) in {type(layer).__name__}; "
        "this architecture is not supported by bottleneck adapters, choose LoRA"
    )


def add_adapters(model: torch.nn.Module, bottleneck_size: int, non_linearity: str) -> list[str]:
    """Attach an adapter after every layer's feed-forward block; return the names of those blocks."""
    hidden = getattr(model.config, "hidden_size", None)
    if not isinstance(hidden, int):
        raise ValueError("adapter: the model config has no integer hidden_size")
    layers_name, layers = decoder_layers(model)
    names: list[str] = []
    for index, layer in enumerate(layers):
        block = _feed_forward(layer)
        if hasattr(block, "adapter"):
            raise ValueError("adapter: the model already has adapters")
        ref = next(block.parameters())
        # fp32 trainable weights over a 16-bit frozen base, like PEFT's autocast_adapter_dtype.
        dtype = torch.float32 if ref.dtype in (torch.float16, torch.bfloat16) else ref.dtype
        block.adapter = BottleneckAdapter(hidden, bottleneck_size, non_linearity).to(ref.device, dtype)
        block.register_forward_hook(_apply_adapter)
        ffn_name = next(n for n in _FFN_NAMES if getattr(layer, n, None) is block)
        names.append(f"{layers_name}.{index}.{ffn_name}")
    return names


def adapter_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if ".adapter." in k}


def prepare(model: PreTrainedModel, hp: TrainHyperparameters, *, method_id: str) -> torch.nn.Module:
    """Freeze the base model, add adapters (the only trainable parameters) and return the model."""
    for param in model.parameters():
        param.requires_grad_(False)
    add_adapters(model, hp.adapter_bottleneck_size, hp.adapter_non_linearity)
    config = {"bottleneck_size": hp.adapter_bottleneck_size, "non_linearity": hp.adapter_non_linearity}
    model.ftstudio_adapter_config = config
    # Also in the model config, so every Trainer checkpoint's config.json says how to rebuild the adapters.
    model.config.ftstudio_adapter = config
    if hp.gradient_checkpointing:
        model.enable_input_require_grads()
    return model


def save_adapter(model: torch.nn.Module, out_dir: Path, *, base_model: str | None = None) -> Path:
    """Write the adapter weights (safetensors) and their config into ``out_dir``."""
    from safetensors.torch import save_file

    config = getattr(model, "ftstudio_adapter_config", None)
    if config is None:
        raise ValueError("save_adapter: this model has no adapters (prepare it with the adapter method)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in adapter_state_dict(model).items()}
    save_file(tensors, str(out_dir / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    (out_dir / ADAPTER_CONFIG).write_text(
        json.dumps({"method": "adapter", **config, "base_model": base_model}, indent=2) + "\n",
        encoding="utf-8",
    )
    return out_dir


def _read_adapter_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Adapter keys from an adapter-only folder, or from a full checkpoint (model*.safetensors)."""
    from safetensors.torch import load_file

    files = (
        [path / ADAPTER_WEIGHTS]
        if (path / ADAPTER_WEIGHTS).exists()
        else sorted(path.glob("model*.safetensors"))
    )
    tensors: dict[str, torch.Tensor] = {}
    for file in files:
        tensors.update({k: v for k, v in load_file(str(file)).items() if ".adapter." in k})
    if not tensors:
        raise ValueError(
            f"no adapter weights in {path} (expected {ADAPTER_WEIGHTS} or a checkpoint with adapters)"
        )
    return tensors


def load_adapter(
    model: torch.nn.Module, path: Path, bottleneck_size: int, non_linearity: str
) -> torch.nn.Module:
    """Add adapters to a base ``model`` and load their trained weights from ``path`` (all keys must match)."""
    tensors = _read_adapter_tensors(Path(path))
    add_adapters(model, bottleneck_size, non_linearity)
    model.ftstudio_adapter_config = {"bottleneck_size": bottleneck_size, "non_linearity": non_linearity}
    expected = set(adapter_state_dict(model))
    if set(tensors) != expected:
        missing, unexpected = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        raise ValueError(
            f"adapter weights do not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    model.load_state_dict(tensors, strict=False)
    return model


def read_adapter_config(path: Path) -> dict[str, Any] | None:
    """Adapter settings of an adapter-only folder (its own file) or of a checkpoint (its config.json)."""
    path = Path(path)
    if (path / ADAPTER_CONFIG).exists():
        return json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    if (path / "config.json").exists():
        return json.loads((path / "config.json").read_text(encoding="utf-8")).get("ftstudio_adapter")
    return None


def load_kwargs(hp: TrainHyperparameters) -> dict[str, Any]:
    """The base model loads as for LoRA and full fine-tuning (dtype from the precision)."""
    from worker.training.methods.full import base_load_kwargs

    return base_load_kwargs(hp, "adapter")


def training_arguments(hp: TrainHyperparameters, run_dir: Path) -> dict[str, Any]:
    from worker.training.methods.full import distributed_arguments

    return distributed_arguments(hp, run_dir)
