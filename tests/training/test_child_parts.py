"""Parts of the training child in-process: config, checkpoints, method registry, targets, model loading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from app.jobs.hyperparameters import TrainHyperparameters
from worker.training.config import BaseModelSpec, ConfigError, load_config, resolve_checkpoint
from worker.training.events import EventWriter, read_events, write_error
from worker.training.methods import METHOD_MODULES, get_method
from worker.training.methods.base import resolve_target_modules
from worker.training.model_loading import load_model, load_tokenizer


def _config(tmp_path: Path, **changes: Any) -> Path:
    config = {
        "run_dir": str(tmp_path / "run"),
        "base_model": {"path": "x"},
        "dataset": {"train_path": "t.jsonl"},
        "method": "lora",
        "hyperparameters": {},
        **changes,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def test_config_defaults_and_errors(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, supervisor_note="ignored"))
    assert config.hyperparameters == TrainHyperparameters() and config.base_model.trust_remote_code is False
    with pytest.raises(ConfigError, match="hyperparameters.lora_alpha"):
        load_config(_config(tmp_path, hyperparameters={"lora_alpha": -1}))
    with pytest.raises(ConfigError, match="base_model.revision"):
        load_config(_config(tmp_path, base_model={"path": "x", "revision": "main"}))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path / "broken.json")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.json")


def test_resolve_checkpoint(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, resume_from_checkpoint="latest"))
    with pytest.raises(ConfigError, match="no checkpoint yet"):
        resolve_checkpoint(config)
    for step in (9, 10, 100):  # numeric order, not text order ("100" < "9" as text)
        folder = tmp_path / "run" / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text("{}")
    assert resolve_checkpoint(config).endswith("checkpoint-100")
    named = load_config(_config(tmp_path, resume_from_checkpoint="checkpoints/checkpoint-9"))
    assert resolve_checkpoint(named) == str(tmp_path / "run" / "checkpoints" / "checkpoint-9")
    assert resolve_checkpoint(load_config(_config(tmp_path))) is None


def test_method_registry() -> None:
    assert get_method("lora").__name__ == "worker.training.methods.lora"
    assert set(METHOD_MODULES) == {
        "lora",
        "qlora",
        "ptuning",
        "prefix",
        "prompt",
        "ia3",
        "adapter",
        "freeze",
        "full",
    }
    with pytest.raises(ValueError, match="known methods: lora"):
        get_method("dora")


def test_target_module_presets(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from worker.training.tiny_model import build_tiny_model

    llama = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    assert resolve_target_modules(llama, "attention") == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert set(resolve_target_modules(llama, "attention+mlp")) == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
    }  # fmt: skip
    assert resolve_target_modules(llama, "q_proj, v_proj") == ["q_proj", "v_proj"]
    with pytest.raises(ValueError, match="c_attn"):
        resolve_target_modules(llama, "q_proj,c_attn")
    gpt2 = AutoModelForCausalLM.from_pretrained(str(build_tiny_model(tmp_path / "gpt2", arch="gpt2")))
    # GPT-2 uses "c_proj" both in attention and in the MLP: the preset must not catch the MLP one.
    assert resolve_target_modules(gpt2, "attention") == ["attn.c_proj", "c_attn"]


def test_hub_id_string_loads_through_from_pretrained(tiny_model_dir: Path) -> None:
    """A model given as a hub-id string goes through the normal from_pretrained path (a local folder here)."""
    hp = TrainHyperparameters()
    spec = BaseModelSpec(path=str(tiny_model_dir))
    model = load_model(spec, get_method("lora"), hp)
    tokenizer = load_tokenizer(spec)
    assert model.config.use_cache is False and model.dtype == torch.float32
    assert model.name_or_path == str(tiny_model_dir) and tokenizer.pad_token is not None
    bf16 = load_model(spec, get_method("lora"), TrainHyperparameters(precision="pure_bf16"))
    assert bf16.dtype == torch.bfloat16
    with pytest.raises(ConfigError, match="could not load base model"):
        load_model(BaseModelSpec(path=str(tiny_model_dir / "missing")), get_method("lora"), hp)


def test_lora_prepare_follows_hyperparameters(tiny_model_dir: Path) -> None:
    hp = TrainHyperparameters(lora_r=4, lora_alpha=12, lora_target_modules="q_proj,v_proj")
    model = get_method("lora").prepare(
        load_model(BaseModelSpec(path=str(tiny_model_dir)), get_method("lora"), hp), hp, method_id="lora"
    )
    config = model.peft_config["default"]
    assert (config.r, config.lora_alpha, set(config.target_modules)) == (4, 12, {"q_proj", "v_proj"})
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n and ("q_proj" in n or "v_proj" in n) for n in trainable)


def test_core_training_arguments(tmp_path: Path) -> None:
    from worker.training.sft import core_training_arguments

    args = core_training_arguments(TrainHyperparameters(precision="bf16"), tmp_path, has_eval=False)
    assert args["bf16"] is True and "eval_strategy" not in args
    assert args["output_dir"] == str(tmp_path / "checkpoints")
    hp = TrainHyperparameters(eval_steps=5, keep_best_k=3, gradient_checkpointing=True)
    args = core_training_arguments(hp, tmp_path, has_eval=True)
    # keep_best_k: the studio's BestCheckpoints rotates; the Trainer's rotation would delete the best ones
    assert (args["eval_strategy"], args["eval_steps"], args["save_total_limit"]) == ("steps", 5, None)
    assert "metric_for_best_model" not in args
    assert args["gradient_checkpointing_kwargs"] == {"use_reentrant": False}
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="fp16"):
            core_training_arguments(TrainHyperparameters(precision="fp16"), tmp_path, has_eval=False)


def test_event_writer(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path)
    writer.write("train", step=1, loss=float("nan"))
    writer({"event": "warning", "message": "中文"})
    EventWriter(tmp_path, enabled=False).write("train", step=2)
    assert read_events(tmp_path) == [
        {"event": "train", "step": 1, "loss": None},
        {"event": "warning", "message": "中文"},
    ]
    write_error(tmp_path, "bad input")
    assert json.loads((tmp_path / "error.json").read_text()) == {"error": "bad input"}
