"""Through the real training child: one method end to end (train -> final/ -> export loads back), and full
fine-tuning under DeepSpeed ZeRO-1/2/3 with 2 processes on gloo, launched with build_launch's command."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
from training_methods_helpers import make_hp

from worker.training.events import read_events
from worker.training.export import export_model
from worker.training.launch_command import build_launch, prebuild_command

REPO = Path(__file__).resolve().parents[2]
QA = [
    ("你好", "你好！很高兴见到你。"),
    ("What is 2+2?", "2+2 equals 4."),
    ("我睡不着", "试着深呼吸，放松身体。"),
    ("Thank you", "You are welcome."),
]


def run_child(run_dir: Path, model_dir: Path, method: str, timeout: int = 420, **hp: Any) -> tuple[int, str]:
    """Write config.json + train.jsonl like the supervisor, run the launch command, return (rc, stderr)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": f"r{i}", "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for i, (q, a) in enumerate(QA * 4)
    ]
    train = run_dir / "train.jsonl"
    train.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    hyperparameters = {
        "max_steps": 6,
        "per_device_train_batch_size": 2,
        "logging_steps": 1,
        "save_steps": 100,
        "max_seq_length": 64,
        "learning_rate": 1e-2,
        # One row per example and one micro-batch per step: the epoch arithmetic below counts rows (the job
        # defaults pack rows and accumulate 2 micro-batches since the training-defaults work).
        "packing": False,
        "gradient_accumulation_steps": 1,
        **hp,
    }
    config = {
        "job_id": 1,
        "run_dir": str(run_dir),
        "base_model": {"path": str(model_dir), "gguf_file": None, "trust_remote_code": False},
        "dataset": {"train_path": str(train), "eval_path": None},
        "method": method,
        "hyperparameters": hyperparameters,
    }
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    argv, env = build_launch(run_dir / "config.json", make_hp(**hyperparameters))
    done = subprocess.run(
        argv, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )
    return done.returncode, done.stderr[-4000:]


def train_losses(run_dir: Path) -> list[float]:
    return [e["loss"] for e in read_events(run_dir) if e["event"] == "train"]


@pytest.mark.slow
def test_adapter_method_end_to_end_through_the_child_and_export(tiny_llama, tmp_path):
    from worker.training.methods import adapter

    run_dir = tmp_path / "run"
    rc, stderr = run_child(run_dir, tiny_llama, "adapter", adapter_bottleneck_size=16, max_steps=8)
    assert rc == 0, stderr
    losses = train_losses(run_dir)
    assert len(losses) == 8 and losses[-1] < losses[0], losses
    assert read_events(run_dir)[-1]["status"] == "succeeded"

    out = tmp_path / "export"
    export_model(run_dir / "final", {"path": str(tiny_llama)}, "adapter", "adapter", "fp32", out)
    trained = adapter.load_adapter(_base(tiny_llama), run_dir / "final", 16, "relu")
    exported = adapter.load_adapter(_base(tiny_llama), out, 16, "relu")
    ids = torch.arange(1, 17).unsqueeze(0)
    with torch.no_grad():
        torch.testing.assert_close(exported(input_ids=ids).logits, trained(input_ids=ids).logits)
        assert not torch.allclose(trained(input_ids=ids).logits, _base(tiny_llama)(input_ids=ids).logits)


def _base(path: Path) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).eval()


@pytest.fixture(scope="module")
def deepspeed_ops_built() -> None:
    """What the supervisor does before a DeepSpeed launch: compile the CPU ops once, in one process."""
    pytest.importorskip("deepspeed", reason="ZeRO needs deepspeed")
    hp = make_hp(zero_stage=1, num_processes=2)
    _, env = build_launch(Path("unused.json"), hp)
    done = subprocess.run(
        prebuild_command(hp), cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2, 3])
def test_zero_stage_with_two_processes(tiny_llama, tmp_path, stage, deepspeed_ops_built):
    run_dir = tmp_path / f"zero{stage}"
    rc, stderr = run_child(run_dir, tiny_llama, "full", zero_stage=stage, num_processes=2, learning_rate=1e-3)
    assert rc == 0, stderr
    config = json.loads((run_dir / "deepspeed_config.json").read_text())
    assert config["zero_optimization"]["stage"] == stage
    losses = train_losses(run_dir)
    assert len(losses) == 6 and losses[-1] < losses[0], losses
    start = next(e for e in read_events(run_dir) if e["event"] == "start")
    # 16 rows, 2 per device, 2 processes: 4 steps per epoch, so 6 steps span 1.5 epochs. With one process
    # (or both ranks on the same batches) the epoch would be 8 steps long.
    epochs = [e["epoch"] for e in read_events(run_dir) if e["event"] == "train"]
    assert epochs[-1] == pytest.approx(1.5), epochs
    assert start["trainable_params"] == start["total_params"]
    # The saved model is whole (ZeRO-3 gathers the 16-bit weights on save): it loads and every tensor
    # has the base model's shape.
    saved = _base(run_dir / "final").state_dict()
    for name, tensor in _base(tiny_llama).state_dict().items():
        assert saved[name].shape == tensor.shape, name
