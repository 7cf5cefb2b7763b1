"""Calibration against published GPU measurements and a real CPU training step.

GPU rows: torchtune's Llama-3.2-3B memory study (A100 80GB, batch 2 x 4096 packed tokens, bf16 weights and
AdamW states = our "pure-bf16", SDPA flash kernels, torchtune's chunked cross-entropy). Compared with the
planner's *allocated* peak (without CUDA context and allocator overhead). Tolerance 15 %: the study's
runs use torch.compile (fuses element-wise ops the planner counts as eager HF tensors) and do not state
whether the figure is allocated or reserved memory, so a few GiB either way are within its own noise.
Rows the planner does not model (compile without checkpointing, torchtune's LoRA/QLoRA recipes with
activation offloading) are listed in the module docstring of benchmarks/planner_cpu.py, not asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.planner import PlanRequest, plan
from app.planner.constants import CPU_IMPORT_BASELINE_BYTES
from app.planner.core import CPU_HEAP_RETENTION_TERM, CPU_MALLOC_ENV

GIB = 2**30
REPO = Path(__file__).resolve().parents[2]
TORCHTUNE_3B = [
    (
        "full + chunked CE + activation checkpointing",
        {"method": "full", "gradient_checkpointing": True},
        24.9,
    ),
    (
        "... + 8-bit AdamW",
        {"method": "full", "gradient_checkpointing": True, "optimizer": "adamw-8bit"},
        17.6,
    ),
]


def _allocated(result) -> float:  # noqa: ANN001
    b = result.per_gpu.breakdown
    return (result.per_gpu.peak_bytes - b.get("CUDA context", 0) - b.get("allocator overhead", 0)) / GIB


@pytest.mark.parametrize(("label", "fields", "published_gib"), TORCHTUNE_3B)
def test_torchtune_llama32_3b_flag_study(label: str, fields: dict, published_gib: float) -> None:
    req = PlanRequest(
        model="meta-llama/Llama-3.2-3B",
        precision="pure-bf16",
        seq_len=4096,
        micro_batch=2,
        grad_accum=1,
        flash_attention=True,
        chunked_loss=True,
        gpu="A100-80GB",
        **fields,
    )
    got = _allocated(plan(req, with_recommendations=False))
    assert got == pytest.approx(published_gib, rel=0.15), f"{label}: planner {got:.1f} GiB"


# A ~25M-parameter Llama (same family as the benchmark's 100M model, small enough for a test).
SMALL = {
    "model_type": "llama",
    "hidden_size": 384,
    "intermediate_size": 1024,
    "num_hidden_layers": 6,
    "num_attention_heads": 6,
    "num_key_value_heads": 2,
    "vocab_size": 16000,
    "tie_word_embeddings": True,
    "max_position_embeddings": 2048,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["full", "lora"])
def test_cpu_profile_against_a_real_trainer_step(tmp_path: Path, method: str) -> None:
    """Peak RSS of 3 real HF Trainer steps in a fresh process vs the planner's CPU profile: within 15 % (the
    benchmark's 10 % goal is for its 100M model; at 25M the fixed import baseline weighs more)."""
    pytest.importorskip("transformers")
    (tmp_path / "config.json").write_text(json.dumps(SMALL))
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "planner_cpu.py"),
        "--child",
        method,
        "256",
        "2",
        str(tmp_path),
        "eager",
    ]
    # glibc returns freed tensors to the OS with a fixed mmap threshold: RSS = live memory (see core.py)
    env = {**os.environ, **CPU_MALLOC_ENV}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600, check=False, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    measured = result["peak_rss_bytes"]
    req = PlanRequest(
        model=str(tmp_path / "config.json"),
        method=method,
        precision="fp32",
        seq_len=256,
        micro_batch=2,
        lora_r=8,
        lora_targets="all-linear",
        device="cpu",
    )
    # What importing the libraries costs depends on the install (457 MB in one venv, 530 MB in a fresh clone's
    # venv with the same versions, measured): compare the training terms on top of this process' own baseline.
    # The child runs with the fixed mmap threshold: its RSS is the live memory, without heap retention.
    per_gpu = plan(req).per_gpu
    live = per_gpu.peak_bytes - per_gpu.breakdown[CPU_HEAP_RETENTION_TERM]
    predicted = live - CPU_IMPORT_BASELINE_BYTES + result["import_rss_bytes"]
    assert measured == pytest.approx(predicted, rel=0.15), f"measured {measured / 1e6:.0f} MB"
