"""TrainHyperparameters: the issue's defaults, bounds that name the field, form help, and purity."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.jobs.hyperparameters import METHODS, TrainHyperparameters, field_help


def test_defaults_follow_the_issue() -> None:
    hp = TrainHyperparameters()
    # issue #12's measured defaults: LoRA r16 all-linear, batch 4 x 2, 384 tokens
    assert (hp.lora_r, hp.lora_alpha, hp.lora_dropout, hp.lora_target_modules) == (16, 32, 0.05, "all-linear")
    assert (hp.per_device_train_batch_size, hp.gradient_accumulation_steps, hp.max_seq_length) == (4, 2, 384)
    assert hp.max_steps == -1 and hp.precision == "auto" and hp.split_long_dialogues is True
    assert hp.collapse_action == "pause" and hp.max_train_minutes is None
    assert set(METHODS) >= {
        "lora",
        "qlora",
        "ptuning",
        "prefix",
        "prompt",
        "ia3",
        "adapter",
        "freeze",
        "full",
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lora_r", 0),
        ("learning_rate", 0),
        ("learning_rate", -1e-4),
        ("lora_dropout", 1.0),
        ("per_device_train_batch_size", 0),
        ("max_seq_length", 4),
        ("precision", "fp8"),
        ("lr_scheduler_type", "exponential"),
        ("zero_stage", 4),
        ("num_processes", 65),
        ("optim", "adam_made_up"),
        ("quant_bits", 3),
        ("collapse_action", "explode"),
        ("chat_template", "vicuna"),
    ],
)
def test_bad_value_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        TrainHyperparameters(**{field: value})
    assert [error["loc"] for error in info.value.errors()] == [(field,)]


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        TrainHyperparameters(lora_rank=8)
    assert info.value.errors()[0]["loc"] == ("lora_rank",)


def test_cross_field_rules_live_in_method_rules() -> None:
    from app.jobs.method_rules import check_method_combination

    problems = check_method_combination("lora", TrainHyperparameters(offload_params=True, zero_stage=2))
    assert [field for field, _ in problems] == ["offload_params"]
    assert not check_method_combination("lora", TrainHyperparameters(offload_params=True, zero_stage=3))


@pytest.mark.parametrize(("preset", "r", "alpha"), [("basic", 8, 16), ("advanced", 16, 32)])
def test_lora_preset_sets_rank_and_alpha(preset: str, r: int, alpha: int) -> None:
    hp = TrainHyperparameters(lora_preset=preset, lora_r=64, lora_alpha=3)
    assert (hp.lora_r, hp.lora_alpha) == (r, alpha)


def test_round_trip_through_json() -> None:
    hp = TrainHyperparameters(max_steps=7, lora_target_modules="q_proj,v_proj", eval_steps=3)
    assert TrainHyperparameters.model_validate_json(hp.model_dump_json()) == hp


def test_field_help_covers_every_field() -> None:
    help_ = field_help()
    assert set(help_) == set(TrainHyperparameters.model_fields)
    for name, info in help_.items():
        assert info["description"], name
        assert info["default"] == TrainHyperparameters.model_fields[name].default
    assert help_["precision"]["choices"] == ["auto", "fp32", "fp16", "bf16", "pure_bf16"]
    assert help_["lora_r"]["ge"] == 1
    assert help_["eval_steps"]["nullable"] is True
    assert "adamw_torch" in help_["optim"]["choices"]


def test_module_imports_only_pydantic_and_stdlib() -> None:
    code = (
        "import sys, app.jobs.hyperparameters\n"
        "bad = [m for m in ('torch', 'transformers', 'peft', 'sqlalchemy', 'fastapi') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("method", "rate"), [("lora", 2e-4), ("ptuning", 2e-4), ("full", 2e-4), ("freeze", 5e-5)]
)
def test_empty_learning_rate_is_the_methods_default(method: str, rate: float) -> None:
    """An empty rate is the method's own (measured for full fine-tuning, issue #12; freeze keeps 5e-5),
    written into the job's config at validation and used by the Trainer arguments."""
    from app.jobs.service import validate_hyperparameters
    from app.jobs.trainer_args import trainer_kwargs

    assert TrainHyperparameters().learning_rate is None
    assert validate_hyperparameters(method, {}).learning_rate == rate
    args = trainer_kwargs(method, TrainHyperparameters(), precision="fp32", cuda=False, has_eval=False)
    assert args["learning_rate"] == rate
    chosen = trainer_kwargs(method, TrainHyperparameters(learning_rate=1e-3), precision="fp32", cuda=False,
                            has_eval=False)  # fmt: skip
    assert chosen["learning_rate"] == 1e-3
