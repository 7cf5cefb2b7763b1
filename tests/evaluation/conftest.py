"""Shared fixtures for the evaluation tests: a tiny random Llama + tokenizer, and the shared data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

# The repo's parent folder holds shared/ (tests/evaluation -> tests -> repo).
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MMCU_SAMPLE = SHARED_DATA / "mmcu-layout-sample"


@pytest.fixture(scope="session")
def mmcu_sample() -> Path:
    if not (MMCU_SAMPLE / "test").is_dir():
        pytest.skip(f"shared MMCU-layout sample not found at {MMCU_SAMPLE} (the repo's ../shared/data)")
    return MMCU_SAMPLE


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with a ChatML template (worker.training.tiny_model), built once per session."""
    from worker.training.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "llama", arch="llama", seed=0)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.eval()
    return model, tokenizer
