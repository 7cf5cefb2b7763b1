"""A healthy run's log does not open with "Failed to load ...": found in use on this VM's CPU (AVX512-BF16),
where every job's train.log began with bitsandbytes failing to fetch an optional kernel from the Hub."""

from __future__ import annotations

import subprocess
import sys

import pytest

NOISE = "Failed to load CPU gemm_4bit_forward"
QUIET = "from worker.quiet_logs import quiet_third_party_noise; quiet_third_party_noise(); "


def _stderr(prefix: str) -> str:
    code = prefix + "import bitsandbytes"  # what peft (and so transformers' Trainer) imports in every child
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300).stderr


def test_the_children_silence_bitsandbytes_missing_kernel_warning() -> None:
    if NOISE not in _stderr(""):
        pytest.skip("bitsandbytes tries no optional kernel on this CPU (no AVX512-BF16): nothing to silence")
    assert NOISE not in _stderr(QUIET)
