"""Export a trained checkpoint: LoRA/QLoRA/IA3 merged into the base (safetensors, chosen dtype), or the
adapter alone; prompt-learning and bottleneck-adapter exports as adapters that load back; full and freeze
checkpoints re-saved in the chosen dtype.

    python -m worker.training.export --config FILE

FILE: ``{"checkpoint_path", "base_model": {"path", "gguf_file", "trust_remote_code"}, "method",
"mode": "merged"|"adapter", "dtype": "fp32"|"fp16"|"bf16", "output_dir", "run_dir"?}``. The output folder
gets the weights (safetensors only), the tokenizer and ``export.json`` (what was written, for the catalog).
Events go to ``run_dir`` (default: the config file's folder) as for training: metrics.jsonl start/end,
error.json + exit code 2 for a user error (docs/CONTRACTS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.jobs.hyperparameters import METHODS
from worker.safe_loading import weight_kwargs
from worker.training.config import BaseModelSpec
from worker.training.events import EventWriter, write_error

EXIT_OK, EXIT_USER_ERROR = 0, 2
EXPORT_FILE = "export.json"
PEFT_METHODS = ("lora", "qlora", "ptuning", "prefix", "prompt", "ia3")
MERGEABLE = ("lora", "qlora", "ia3")  # the PEFT tuners whose update folds into the base weights
FULL_MODEL_METHODS = ("full", "freeze")
_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


class ExportError(ValueError):
    """An export the user asked for that cannot be done; the message says what to change (exit code 2)."""


class ExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint_path: str = Field(min_length=1)
    base_model: BaseModelSpec
    method: str
    mode: Literal["merged", "adapter"] = "merged"
    dtype: Literal["fp32", "fp16", "bf16"] = "fp32"
    output_dir: str = Field(min_length=1)
    run_dir: str | None = None
    # Every job's child config carries its job id (docs/CONTRACTS.md); the export itself does not need it.
    job_id: int | None = None


def _check_request(method: str, mode: str, checkpoint: Path) -> None:
    if method not in METHODS:
        raise ExportError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not checkpoint.is_dir():
        raise ExportError(f"the checkpoint folder {checkpoint} does not exist")
    if mode == "merged" and method in PEFT_METHODS and method not in MERGEABLE:
        raise ExportError(
            f"{method} learns virtual tokens, not weight changes, so it cannot be merged into the base; "
            "export it with mode 'adapter'"
        )
    if mode == "merged" and method == "adapter":
        raise ExportError(
            "bottleneck adapters add new layers (with a non-linearity) that cannot be folded into the base "
            "weights; export them with mode 'adapter'"
        )
    if mode == "adapter" and method in FULL_MODEL_METHODS:
        raise ExportError(
            f"a {method} checkpoint is a whole model, not an adapter; export it with mode 'merged'"
        )
    if any(checkpoint.glob("*.bin")) and not any(checkpoint.glob("*.safetensors")):
        # Loading .bin weights means unpickling; we only read safetensors.
        raise ExportError(f"{checkpoint} holds only pickled .bin weights; FT Studio reads safetensors only")


def _load_base(spec: BaseModelSpec, path: str | None = None) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    gguf_file = spec.gguf_file if path is None else None
    kwargs: dict[str, Any] = {
        **weight_kwargs(gguf_file=gguf_file, trust_remote_code=spec.trust_remote_code),
        "dtype": torch.float32,
    }
    try:
        # fp32, never quantised: a QLoRA adapter merges into full-precision base weights, not 4-bit ones.
        return AutoModelForCausalLM.from_pretrained(path or spec.path, **kwargs)
    except (OSError, ValueError) as exc:
        raise ExportError(f"could not load the model {path or spec.path!r}: {exc}") from None


def _saveable(model: Any, spec: BaseModelSpec) -> Any:
    """A model save_pretrained accepts: GGUF-loaded ones are refused ("not serializable", STACK-NOTES), so
    their weights are copied into a model built from the same config."""
    if not spec.gguf_file:
        return model
    from transformers import AutoModelForCausalLM

    fresh = AutoModelForCausalLM.from_config(model.config, dtype=next(model.parameters()).dtype)
    fresh.load_state_dict(model.state_dict())
    return fresh


def _save_tokenizer(spec: BaseModelSpec, checkpoint: Path, output_dir: Path) -> bool:
    from transformers import AutoTokenizer

    for source, extra in (
        (checkpoint, {}),
        (Path(spec.path), {"gguf_file": spec.gguf_file} if spec.gguf_file else {}),
    ):
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                source, trust_remote_code=spec.trust_remote_code, **extra
            )
        except (OSError, ValueError, TypeError):
            continue
        tokenizer.save_pretrained(output_dir)
        return True
    return False


def export_model(
    checkpoint_path: Path,
    base_model: BaseModelSpec | dict[str, Any],
    method: str,
    mode: Literal["merged", "adapter"],
    dtype: Literal["fp32", "fp16", "bf16"],
    output_dir: Path,
) -> dict[str, Any]:
    """Write the export into ``output_dir`` and return what ``export.json`` says (also written there)."""
    import torch

    spec = base_model if isinstance(base_model, BaseModelSpec) else BaseModelSpec.model_validate(base_model)
    checkpoint, output_dir = Path(checkpoint_path), Path(output_dir)
    if dtype not in _DTYPES:
        raise ExportError(f"dtype must be one of {', '.join(_DTYPES)}, not {dtype!r}")
    _check_request(method, mode, checkpoint)
    torch_dtype = getattr(torch, _DTYPES[dtype])
    output_dir.mkdir(parents=True, exist_ok=True)

    if method in FULL_MODEL_METHODS:
        model = _load_base(spec, str(checkpoint)).to(torch_dtype)
        model.save_pretrained(output_dir, safe_serialization=True)
        kind = "model"
    elif method == "adapter":
        from worker.training.methods import adapter

        settings = adapter.read_adapter_config(checkpoint)
        if not settings:
            raise ExportError(
                f"{checkpoint} is not a bottleneck-adapter checkpoint (no adapter settings found)"
            )
        model = adapter.load_adapter(
            _load_base(spec), checkpoint, settings["bottleneck_size"], settings["non_linearity"]
        ).to(torch_dtype)
        adapter.save_adapter(model, output_dir, base_model=spec.path)
        kind = "adapter"
    else:
        from peft import PeftModel

        if not (checkpoint / "adapter_config.json").is_file():
            raise ExportError(f"{checkpoint} has no adapter_config.json: it is not a {method} checkpoint")
        try:
            model = PeftModel.from_pretrained(_load_base(spec), str(checkpoint))
        except (OSError, ValueError, RuntimeError) as exc:
            raise ExportError(
                f"the adapter in {checkpoint} does not fit base model {spec.path!r}: {exc}"
            ) from None
        if mode == "merged":
            merged = model.merge_and_unload().to(torch_dtype)
            _saveable(merged, spec).save_pretrained(output_dir, safe_serialization=True)
            kind = "model"
        else:
            model.to(torch_dtype).save_pretrained(output_dir, safe_serialization=True)
            kind = "adapter"

    has_tokenizer = _save_tokenizer(spec, checkpoint, output_dir)
    files = sorted(p.name for p in output_dir.iterdir() if p.is_file() and p.name != EXPORT_FILE)
    record = {
        "kind": kind,  # "model": loads alone; "adapter": loads on top of base_model
        "method": method,
        "mode": mode,
        "dtype": dtype,
        "base_model": spec.model_dump(),
        "checkpoint_path": str(checkpoint),
        "output_dir": str(output_dir),
        "files": files,
        "tokenizer": has_tokenizer,
        "size_bytes": sum((output_dir / name).stat().st_size for name in files),
    }
    (output_dir / EXPORT_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def _read_config(path: Path) -> ExportConfig:
    try:
        return ExportConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ExportError(f"the export configuration {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ExportError(f"the export configuration {path.name} is not valid JSON ({exc.msg})") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ExportError(f"the export configuration is invalid: {problems}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="FT Studio export: merge or extract a trained checkpoint.")
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    run_dir = args.config.resolve().parent
    try:
        config = _read_config(args.config)
        run_dir = Path(config.run_dir) if config.run_dir else run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        writer = EventWriter(run_dir)
        writer.write("start", kind="export", method=config.method, mode=config.mode, dtype=config.dtype)
        record = export_model(
            Path(config.checkpoint_path),
            config.base_model,
            config.method,
            config.mode,
            config.dtype,
            Path(config.output_dir),
        )
    except ExportError as exc:
        write_error(run_dir, str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    writer.write("end", status="succeeded", output_path=record["output_dir"], kind=record["kind"])
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
