"""The real training child as a subprocess: LoRA end to end, SIGTERM, resume, and user-facing errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

TOTAL_STEPS = 30


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory, h: Any) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("data")
    train = h.write_jsonl(folder / "train.jsonl", [h.conversation(i, system=i % 3 != 0) for i in range(64)])
    val = h.write_jsonl(folder / "val.jsonl", [h.conversation(i) for i in range(8)])
    return train, val


def _config(h: Any, run_dir: Path, model: Path, data: tuple[Path, Path], **overrides: Any) -> Path:
    return h.write_config(run_dir, model, data[0], data[1], hyperparameters={"eval_steps": 10}, **overrides)


@pytest.fixture(scope="module")
def uninterrupted(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, datasets: Any, h: Any
) -> Path:
    run_dir = tmp_path_factory.mktemp("run") / "uninterrupted"
    result = h.run_child(_config(h, run_dir, tiny_model_dir, datasets))
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_lora_end_to_end(uninterrupted: Path, tiny_model_dir: Path, h: Any) -> None:
    events = h.read_events(uninterrupted)
    start, end = events[0], events[-1]
    assert start["event"] == "start" and start["total_steps"] == TOTAL_STEPS
    assert start["num_train_rows"] == 64 and start["num_truncated"] == 0
    assert 0 < start["trainable_params"] < start["total_params"]
    train = [e for e in events if e["event"] == "train"]
    assert [e["step"] for e in train] == list(range(1, TOTAL_STEPS + 1))
    for e in train:
        assert e["total_steps"] == TOTAL_STEPS and e["tokens_per_second"] >= 0 and e["grad_norm"] is not None
    assert train[-1]["learning_rate"] < train[0]["learning_rate"]  # cosine decays
    first, last = [e["loss"] for e in train[:5]], [e["loss"] for e in train[-5:]]
    assert sum(last) / 5 < sum(first) / 5 - 0.2, (first, last)
    assert [e["step"] for e in events if e["event"] == "eval"] == [10, 20, 30]
    checkpoints = [e for e in events if e["event"] == "checkpoint"]
    assert [e["path"] for e in checkpoints] == [f"checkpoints/checkpoint-{s}" for s in (10, 20, 30)]
    for e in checkpoints:
        folder = uninterrupted / e["path"]
        assert (folder / "adapter_model.safetensors").is_file() and (folder / "optimizer.pt").is_file()
        assert not list(folder.glob("*.bin")) or {p.name for p in folder.glob("*.bin")} == {
            "training_args.bin"
        }
    assert end == {**end, "event": "end", "status": "succeeded", "step": TOTAL_STEPS, "output_path": "final"}
    assert end["peak_memory_bytes"] > 10_000_000 and end["tokens_per_second"] > 0
    assert (uninterrupted / "final" / "adapter_model.safetensors").is_file()
    assert (uninterrupted / "final" / "tokenizer.json").is_file()
    assert list((uninterrupted / "tensorboard").glob("events.out.tfevents.*"))
    assert not (uninterrupted / "error.json").exists()


def test_final_adapter_changes_the_model(uninterrupted: Path, tiny_model_dir: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[1, 481, 202, 939, 542, 2, 202]])
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    with torch.no_grad():
        before = base(ids, use_cache=False).logits
        tuned = PeftModel.from_pretrained(base, str(uninterrupted / "final")).eval()
        after = tuned(ids, use_cache=False).logits
    assert (after - before).abs().max() > 1e-3


# Test-side only: slows each step so that the SIGTERM surely lands mid-run on a fast machine. The child is
# the real one (real signal handling, real Trainer); nothing of the recipe is replaced.
SLOW_CHILD = """
import sys, time
from worker.training import callbacks
original = callbacks.GracefulStop.on_step_end
def slow(self, *args, **kwargs):
    time.sleep(0.3)
    return original(self, *args, **kwargs)
callbacks.GracefulStop.on_step_end = slow
from worker.training.sft import main
raise SystemExit(main(["--config", sys.argv[1]]))
"""


def _wait_for_step(run_dir: Path, step: int, process: subprocess.Popen, h: Any, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e["event"] == "train" and e["step"] >= step for e in h.read_events(run_dir)):
            return
        if process.poll() is not None:
            pytest.fail(f"the child ended (rc {process.returncode}) before step {step}")
        time.sleep(0.05)
    pytest.fail(f"no step {step} within {timeout} s")


def test_sigterm_stops_saves_and_resume_matches(
    uninterrupted: Path, tmp_path: Path, tiny_model_dir: Path, datasets: Any, h: Any
) -> None:
    run_dir = tmp_path / "cancelled"
    config = _config(h, run_dir, tiny_model_dir, datasets)
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_CHILD, str(config)],
        cwd=h.REPO,
        env=h.child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for_step(run_dir, 3, process, h)
        signalled = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)  # to the whole group, as the supervisor does
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    stopped_in = time.monotonic() - signalled
    assert process.returncode == 0, output[-3000:]
    events = h.read_events(run_dir)
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "cancelled"
    stopped_at = end["step"]
    assert 3 <= stopped_at < TOTAL_STEPS
    assert end["output_path"] == f"checkpoints/checkpoint-{stopped_at}"
    assert (run_dir / end["output_path"] / "optimizer.pt").is_file()
    assert not (run_dir / "final").exists()
    assert stopped_in < 60, f"stopping took {stopped_in:.1f} s"  # generous: a loaded 2-core CI box

    # Resume the cancelled run to the end: same loss curve as the run that was never stopped.
    resumed = json.loads(config.read_text())
    resumed["resume_from_checkpoint"] = "latest"
    config.write_text(json.dumps(resumed))
    result = h.run_child(config)
    assert result.returncode == 0, result.stderr[-3000:]
    events = h.read_events(run_dir)
    starts = [i for i, e in enumerate(events) if e["event"] == "start"]
    assert len(starts) == 2 and events[starts[1]]["resumed_from"] == end["output_path"]
    before, after = h.train_losses(events[: starts[1]]), h.train_losses(events[starts[1] :])
    reference = h.train_losses(h.read_events(uninterrupted))
    assert sorted(after) == list(range(stopped_at + 1, TOTAL_STEPS + 1))
    for step, loss in {**before, **after}.items():
        assert abs(loss - reference[step]) < 1e-5, (step, loss, reference[step])
    assert events[-1]["status"] == "succeeded" and (run_dir / "final" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"hyperparameters": {"lora_r": 0}}, "lora_r"),
        ({"method": "magic"}, "unknown method"),
        ({"dataset": {"train_path": "/nonexistent/train.jsonl"}}, "does not exist"),
        ({"resume_from_checkpoint": "checkpoints/checkpoint-99"}, "cannot resume"),
    ],
)
def test_bad_config_exits_2_with_a_sentence(
    tmp_path: Path, tiny_model_dir: Path, datasets: Any, h: Any, change: dict, words: str
) -> None:
    run_dir = tmp_path / "bad"
    config_path = _config(h, run_dir, tiny_model_dir, datasets)
    config = json.loads(config_path.read_text())
    for key, value in change.items():
        config[key] = {**config[key], **value} if isinstance(config.get(key), dict) else value
    config_path.write_text(json.dumps(config))
    result = h.run_child(config_path, timeout=200)
    assert result.returncode == 2, result.stderr[-3000:]
    error = json.loads((run_dir / "error.json").read_text())["error"]
    assert words in error, error


def test_dataset_left_empty_exits_2(tmp_path: Path, tiny_model_dir: Path, h: Any) -> None:
    """In-process main() (the subprocess start-up is paid by the tests above); handlers restored after."""
    from worker.training.sft import main

    long_question = [{"role": "user", "content": "为什么 " * 60}, {"role": "assistant", "content": "因为"}]
    train = h.write_jsonl(tmp_path / "train.jsonl", [long_question] * 3)
    config = h.write_config(
        tmp_path / "run",
        tiny_model_dir,
        train,
        hyperparameters={"max_seq_length": 32, "split_long_dialogues": False},
    )
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert main(["--config", str(config)]) == 2
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    error = json.loads((tmp_path / "run" / "error.json").read_text())["error"]
    assert "no training example is left" in error and "max_seq_length=32" in error
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_replies_cut_away_by_truncation_are_said_after_the_start_event(
    tmp_path: Path, tiny_model_dir: Path, h: Any
) -> None:
    """Dialogues longer than max_seq_length, cut at the limit: the job says how many replies never train
    (a warning, shown on the job page) and the start event counts them; with windows nothing is said."""
    from worker.training.sft import main

    dialogue: list[dict[str, str]] = []
    for turn in range(6):
        dialogue += [
            {"role": "user", "content": f"第{turn}个问题：我最近总是睡不好，怎么办？"},
            {"role": "assistant", "content": f"第{turn}个回答：我们一起看看你的作息和压力。"},
        ]
    train = h.write_jsonl(tmp_path / "train.jsonl", [dialogue] * 3)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    events = {}
    try:
        for split in (False, True):
            run_dir = tmp_path / f"split-{split}"
            hp = {"max_seq_length": 64, "split_long_dialogues": split, "max_steps": 1, "save_steps": 10}
            config = h.write_config(run_dir, tiny_model_dir, train, hyperparameters=hp)
            assert main(["--config", str(config)]) == 0
            events[split] = h.read_events(run_dir)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    cut = events[False]
    assert cut[0]["event"] == "start" and cut[0]["num_replies"] == 18
    assert 0 < cut[0]["num_replies_trained"] <= 9, cut[0]
    assert cut[1]["event"] == "warning" and "split_long_dialogues=true" in cut[1]["message"]
    assert f"{18 - cut[0]['num_replies_trained']} of 18 assistant replies" in cut[1]["message"]
    windowed = events[True]
    assert windowed[0]["num_replies_trained"] == 18
    assert not [e for e in windowed if e["event"] == "warning"]
