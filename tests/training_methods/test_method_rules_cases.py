"""app.jobs.method_rules: each bad combination names its field; good ones pass; the module stays pure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from training_methods_helpers import make_hp

from app.jobs.hyperparameters import METHODS
from app.jobs.method_rules import check_method_combination

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("method", "hp", "gpu", "field"),
    [
        ("full", {"zero_stage": 0, "offload_optimizer": True}, None, "offload_optimizer"),
        ("lora", {"precision": "fp16"}, False, "precision"),
        ("prefix", {"gradient_checkpointing": True}, None, "gradient_checkpointing"),
    ],
)
def test_bad_combinations_name_their_field(method, hp, gpu, field):
    problems = check_method_combination(method, make_hp(**hp), gpu_available=gpu)
    assert field in [f for f, _ in problems], problems
    assert all(len(reason) > 20 for _, reason in problems)


def test_several_problems_are_all_reported():
    hp = make_hp(precision="fp16", num_processes=2, zero_stage=0, offload_optimizer=True)
    fields = {f for f, _ in check_method_combination("full", hp, gpu_available=False)}
    assert fields == {"precision", "offload_optimizer"}


def test_offload_params_outside_stage_3_is_refused_even_when_built_without_validation():
    hp = make_hp(zero_stage=2).model_copy(update={"offload_params": True})  # bypasses the model validator
    assert "offload_params" in [f for f, _ in check_method_combination("full", hp)]


@pytest.mark.parametrize("method", METHODS)
def test_defaults_are_fine_for_every_method(method):
    assert check_method_combination(method, make_hp(), gpu_available=False) == []


@pytest.mark.parametrize(
    ("method", "hp"),
    [
        ("full", {"zero_stage": 3, "num_processes": 2, "offload_optimizer": True, "offload_params": True}),
        ("lora", {"zero_stage": 2, "num_processes": 2}),
        ("lora", {"precision": "fp16"}),
        ("qlora", {"bnb_compute_dtype": "bf16", "precision": "bf16"}),
        ("qlora", {"quant_bits": 8, "precision": "pure_bf16"}),
        ("ptuning", {"gradient_checkpointing": True, "encoder_reparameterization_type": "LSTM"}),
        ("qlora", {"zero_stage": 3, "num_processes": 2, "offload_optimizer": True, "offload_params": True}),
        ("full", {"num_processes": 2}),
    ],
)
def test_combinations_that_run_are_allowed(method, hp):
    # fp16 is allowed when a GPU is there (or unknown); the rest ran on this CPU (see the module docstring).
    assert check_method_combination(method, make_hp(**hp), gpu_available=None) == []


def test_unknown_method():
    assert check_method_combination("dora", make_hp())[0][0] == "method"


def test_rules_module_imports_no_torch():
    code = "import sys, app.jobs.method_rules; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
