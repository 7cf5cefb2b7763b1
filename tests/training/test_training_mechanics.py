"""Training mechanics through the recipe's own run(): precisions, checkpointing, packing, accumulation.

In-process (no subprocess start-up) with the real Trainer on the tiny model; a few steps each.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from worker.training.config import load_config
from worker.training.sft import run
from worker.training.stop import StopFlag

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "hyperparameters",
    [
        {"precision": "bf16", "gradient_checkpointing": True},
        {"precision": "pure_bf16", "packing": True},
        {
            "gradient_accumulation_steps": 2,
            "lr_scheduler_type": "linear",
            "warmup_steps": 2,
            "weight_decay": 0.1,
            "packing": False,  # one example per row (packing is the default)
        },
        {"packing": True, "gradient_checkpointing": True, "max_grad_norm": 0.0, "lora_preset": "advanced"},
    ],
    ids=["bf16+checkpointing", "pure_bf16+packing", "accumulation+linear", "packing+checkpointing"],
)
def test_mechanics_train(tmp_path: Path, tiny_model_dir: Path, h: Any, hyperparameters: dict) -> None:
    train = h.write_jsonl(tmp_path / "train.jsonl", [h.conversation(i) for i in range(16)])
    settings = {"max_steps": 4, "save_steps": 4, "learning_rate": 1e-2, **hyperparameters}
    config = load_config(h.write_config(tmp_path / "run", tiny_model_dir, train, hyperparameters=settings))
    assert run(config, StopFlag()) == 0
    events = h.read_events(tmp_path / "run")
    losses = [e["loss"] for e in events if e["event"] == "train"]
    assert len(losses) == 4 and all(loss is not None and 0 < loss < 20 for loss in losses)
    start = events[0]
    if hyperparameters.get("packing", True):  # on by default (issue #12), exact for the tiny Llama
        assert start["batching"] == "packed"
        assert start["num_sequences"] < start["num_train_examples"]  # several conversations per sequence
    else:
        assert start["num_sequences"] == start["num_train_examples"] == 16
    warmup = [e["learning_rate"] for e in events if e["event"] == "train"]
    if hyperparameters.get("warmup_steps"):
        assert warmup[0] < warmup[1]  # linear warmup rises first
    assert events[-1]["status"] == "succeeded"
    assert (tmp_path / "run" / "final" / "adapter_model.safetensors").is_file()


def test_cancel_while_loading_ends_cleanly(tmp_path: Path, tiny_model_dir: Path, h: Any) -> None:
    train = h.write_jsonl(tmp_path / "train.jsonl", [h.conversation(i) for i in range(4)])
    config = load_config(h.write_config(tmp_path / "run", tiny_model_dir, train))
    flag = StopFlag()
    flag.requested = True  # what the SIGTERM handler sets; here it came before the first step
    assert run(config, flag) == 0
    events = h.read_events(tmp_path / "run")
    assert events == [{**events[-1], "event": "end", "status": "cancelled", "step": 0, "output_path": None}]
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "final").exists()


def test_quick_eval_hook_and_collapse_pause(tmp_path: Path, tiny_model_dir: Path, h: Any) -> None:
    """The quick-eval hook runs at checkpoints; a random-init model's greedy answers repeat themselves, so
    it flags a collapse, and with collapse_action "pause" the run ends "paused" at a saved checkpoint."""
    train = h.write_jsonl(tmp_path / "train.jsonl", [h.conversation(i) for i in range(8)])
    val = h.write_jsonl(tmp_path / "val.jsonl", [h.conversation(i) for i in range(4)])
    settings = {
        "max_steps": 4,
        "save_steps": 2,
        "quick_eval_every_n_checkpoints": 1,
        "quick_eval_samples": 4,
        "collapse_action": "pause",
    }
    config = load_config(
        h.write_config(tmp_path / "run", tiny_model_dir, train, val, hyperparameters=settings)
    )
    assert run(config, StopFlag()) == 0
    events = h.read_events(tmp_path / "run")
    if importlib.util.find_spec("worker.evaluation.quick_eval") is None:
        assert "warning" in [e["event"] for e in events]  # the child says in words why there is no quick eval
        return
    assert "quick_eval" in [e["event"] for e in events]
    collapses = [e for e in events if e["event"] == "collapse" and e["action"] == "pause"]
    end = events[-1]
    if collapses:
        assert end["status"] == "paused" and end["reason"] == collapses[-1]["reason"]
        assert (tmp_path / "run" / end["output_path"] / "adapter_model.safetensors").is_file()
        assert end["step"] < 4 and not (tmp_path / "run" / "final").exists()
    else:
        assert end["status"] == "succeeded"
