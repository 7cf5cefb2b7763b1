"""Fixtures of the training-core tests: a tiny random-init model, small datasets, a child runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

QA = [
    ("你好", "你好！很高兴见到你。"),
    ("What is 2+2?", "2+2 equals 4."),
    ("我睡不着", "试着深呼吸，放松身体。"),
    ("Thank you", "You are welcome."),
]


@pytest.fixture(scope="session")
def cpsycoun_path() -> Path:
    path = DATA / "cpsycoun" / "dialogues.jsonl"
    if not path.is_file():
        pytest.skip(f"the shared CPsyCoun data {path} is absent (it sits beside the checkout)")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worker.training.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "llama", arch="llama")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def conversation(i: int, *, system: bool = True) -> list[dict[str, str]]:
    question, answer = QA[i % len(QA)]
    messages = [{"role": "system", "content": "You are a kind helper."}] if system else []
    return messages + [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def write_jsonl(path: Path, conversations: list[list[dict[str, str]]]) -> Path:
    lines = [
        json.dumps({"id": f"row-{i}", "messages": m}, ensure_ascii=False) for i, m in enumerate(conversations)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_config(
    run_dir: Path, model_dir: Path, train: Path, eval_path: Path | None = None, **overrides: Any
) -> Path:
    """A config.json as the supervisor writes it; ``hyperparameters`` and top-level keys can be overridden."""
    run_dir.mkdir(parents=True, exist_ok=True)
    hyperparameters = {
        "max_steps": 30,
        "learning_rate": 1e-2,
        "per_device_train_batch_size": 4,
        "save_steps": 10,
        "save_total_limit": 5,
        "logging_steps": 1,
        "max_seq_length": 128,
        "lora_target_modules": "all-linear",
        # Random tiny models answer degenerate text: the tests that want the quick check turn it on.
        "quick_eval_every_n_checkpoints": 0,
        **overrides.pop("hyperparameters", {}),
    }
    config = {
        "job_id": 1,
        "run_dir": str(run_dir),
        "base_model": {"path": str(model_dir), "gguf_file": None, "trust_remote_code": False},
        "dataset": {"train_path": str(train), "eval_path": str(eval_path) if eval_path else None},
        "method": "lora",
        "hyperparameters": hyperparameters,
        "resume_from_checkpoint": None,
        **overrides,
    }
    path = run_dir / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def child_env() -> dict[str, str]:
    # Offline hub (no network here anyway) and one thread: the CI box has 2 cores shared by many tests.
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def run_child(config: Path, *, timeout: float = 400) -> subprocess.CompletedProcess:
    """The real training child, as the supervisor starts it (own session, cwd = repo root)."""
    return subprocess.run(
        [sys.executable, "-m", "worker.training.sft", "--config", str(config)],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    return (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []
    )


def train_losses(events: list[dict[str, Any]]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events if e["event"] == "train"}


@pytest.fixture(scope="session")
def h() -> Any:
    """These helpers (conversation, write_jsonl, write_config, run_child, read_events...) as one object:
    with --import-mode=importlib a test module cannot import its conftest by name."""
    return sys.modules[__name__]
