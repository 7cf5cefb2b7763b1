"""Shared fixtures for the training-method tests: tiny random-init models built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from worker.training.tiny_model import build_tiny_model

# --import-mode=importlib does not put test folders on sys.path; the helpers module has a unique name so it
# cannot shadow another area's.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama (hidden 64) with a real BPE tokenizer, built once per test session."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), arch="llama", hidden_size=64, num_layers=2)


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # hidden 128: bitsandbytes' AVX512-BF16 repack (the QLoRA workaround's reason) only happens from 128 up.
    return build_tiny_model(
        tmp_path_factory.mktemp("tiny-qwen2"), arch="qwen2", hidden_size=128, num_layers=3
    )
