"""Fixtures of the planner tests: a ~100M Llama config on disk and an in-process studio on a temp SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

# The benchmark's model (benchmarks/planner_cpu.py): hidden 768, 12 layers, GQA 12/4, SwiGLU 2048, 32k vocab.
BENCH_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 768,
    "intermediate_size": 2048,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_key_value_heads": 4,
    "vocab_size": 32000,
    "tie_word_embeddings": True,
    "max_position_embeddings": 4096,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
}


@pytest.fixture()
def bench_model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bench-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(BENCH_CONFIG))
    return folder


@pytest.fixture(scope="module")
def studio_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The real FastAPI app (all routers) on a fresh SQLite database in a temp data dir."""
    from tests.clients import sqlite_studio_client

    with sqlite_studio_client(tmp_path_factory.mktemp("studio")) as client:
        yield client
