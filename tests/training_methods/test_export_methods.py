"""Export: merged LoRA logits equal base+adapter logits; adapter-only, P-tuning and bottleneck-adapter
exports load back with the same logits; the CLI writes export.json and events, and error.json + exit 2
on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_methods_helpers import load_base, make_hp, sample_batch, train_steps

from worker.training.export import ExportError, export_model

REPO = Path(__file__).resolve().parents[2]


def _logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def _trained(path: Path, method_id: str, tmp: Path, **hp_overrides: object) -> tuple[torch.nn.Module, Path]:
    """A few real training steps of ``method_id`` and its checkpoint folder (save_pretrained)."""
    from worker.training.methods import get_method

    hp = make_hp(lora_dropout=0.0, lora_target_modules="all-linear", **hp_overrides)
    method = get_method(method_id)
    model = method.prepare(load_base(path, **method.load_kwargs(hp)), hp, method_id=method_id)
    train_steps(model, sample_batch(path), steps=3, lr=1e-2)
    model.save_pretrained(tmp / "checkpoint")
    return model, tmp / "checkpoint"


def test_merged_lora_equals_base_plus_adapter(tiny_llama, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    _, checkpoint = _trained(tiny_llama, "lora", tmp_path)
    record = export_model(checkpoint, {"path": str(tiny_llama)}, "lora", "merged", "fp32", tmp_path / "out")
    assert record["kind"] == "model" and "model.safetensors" in record["files"] and record["tokenizer"]
    assert json.loads((tmp_path / "out" / "export.json").read_text()) == record
    batch = sample_batch(tiny_llama)
    reference = _logits(PeftModel.from_pretrained(load_base(tiny_llama), checkpoint), batch)
    merged = _logits(AutoModelForCausalLM.from_pretrained(tmp_path / "out"), batch)
    assert not torch.allclose(reference, _logits(load_base(tiny_llama), batch), atol=1e-3), (
        "LoRA learned nothing"
    )
    torch.testing.assert_close(merged, reference, atol=1e-4, rtol=0)


def test_merged_export_in_bf16_has_bf16_weights(tiny_llama, tmp_path):
    from transformers import AutoModelForCausalLM

    _, checkpoint = _trained(tiny_llama, "lora", tmp_path)
    export_model(checkpoint, {"path": str(tiny_llama)}, "lora", "merged", "bf16", tmp_path / "out")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out", dtype="auto")
    assert next(model.parameters()).dtype == torch.bfloat16


@pytest.mark.parametrize("method_id", ["lora", "ptuning"])
def test_adapter_only_export_loads_back_with_peft(tiny_llama, tmp_path, method_id):
    from peft import PeftModel

    trained, checkpoint = _trained(
        tiny_llama, method_id, tmp_path, num_virtual_tokens=4, encoder_hidden_size=16
    )
    record = export_model(
        checkpoint, {"path": str(tiny_llama)}, method_id, "adapter", "fp32", tmp_path / "out"
    )
    assert record["kind"] == "adapter" and "adapter_model.safetensors" in record["files"]
    batch = sample_batch(tiny_llama)
    reloaded = PeftModel.from_pretrained(load_base(tiny_llama), tmp_path / "out")
    torch.testing.assert_close(_logits(reloaded, batch), _logits(trained, batch), atol=1e-5, rtol=1e-5)


def test_bottleneck_adapter_export_loads_back(tiny_llama, tmp_path):
    from worker.training.methods import adapter

    trained, checkpoint = _trained(tiny_llama, "adapter", tmp_path, adapter_bottleneck_size=8)
    # A Trainer checkpoint of the adapter method is a whole model whose config.json names the adapter.
    record = export_model(
        checkpoint, {"path": str(tiny_llama)}, "adapter", "adapter", "fp32", tmp_path / "out"
    )
    assert record["kind"] == "adapter" and "adapter_model.safetensors" in record["files"]
    batch = sample_batch(tiny_llama)
    reloaded = adapter.load_adapter(load_base(tiny_llama), tmp_path / "out", 8, "relu")
    torch.testing.assert_close(_logits(reloaded, batch), _logits(trained, batch))


def test_full_checkpoint_exports_in_the_chosen_dtype(tiny_llama, tmp_path):
    from transformers import AutoModelForCausalLM

    trained, checkpoint = _trained(tiny_llama, "freeze", tmp_path, freeze_trainable_layers=1)
    export_model(checkpoint, {"path": str(tiny_llama)}, "freeze", "merged", "fp32", tmp_path / "out")
    batch = sample_batch(tiny_llama)
    torch.testing.assert_close(
        _logits(AutoModelForCausalLM.from_pretrained(tmp_path / "out"), batch), _logits(trained, batch)
    )


@pytest.mark.parametrize(
    ("method_id", "mode", "message"),
    [
        ("ptuning", "merged", "cannot be merged"),
        ("adapter", "merged", "cannot be folded"),
        ("full", "adapter", "whole model"),
    ],
)
def test_impossible_exports_are_clear_errors(tmp_path, method_id, mode, message):
    with pytest.raises(ExportError, match=message):
        export_model(tmp_path, {"path": "x"}, method_id, mode, "fp32", tmp_path / "out")


@pytest.mark.slow
def test_cli_writes_events_and_error_json(tiny_llama, tmp_path):
    _, checkpoint = _trained(tiny_llama, "lora", tmp_path)
    config = {
        "checkpoint_path": str(checkpoint),
        "base_model": {"path": str(tiny_llama), "gguf_file": None, "trust_remote_code": False},
        "method": "lora",
        "mode": "adapter",
        "dtype": "fp32",
        "output_dir": str(tmp_path / "out"),
    }
    (tmp_path / "export_config.json").write_text(json.dumps(config))
    command = [
        sys.executable,
        "-m",
        "worker.training.export",
        "--config",
        str(tmp_path / "export_config.json"),
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "end"] and events[-1]["status"] == "succeeded"
    assert (tmp_path / "out" / "export.json").is_file()

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "export_config.json").write_text(
        json.dumps({**config, "method": "prompt", "mode": "merged"})
    )
    bad = [
        sys.executable,
        "-m",
        "worker.training.export",
        "--config",
        str(tmp_path / "bad" / "export_config.json"),
    ]
    done = subprocess.run(bad, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "cannot be merged" in json.loads((tmp_path / "bad" / "error.json").read_text())["error"]
