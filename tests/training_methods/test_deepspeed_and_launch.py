"""The generated DeepSpeed config (course layout) and the launch command for 1 and N processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from training_methods_helpers import make_hp

from worker.training.deepspeed_config import deepspeed_config, write_deepspeed_config
from worker.training.launch_command import build_command, build_launch, prebuild_command

AUTO_KEYS = (
    "gradient_accumulation_steps",
    "gradient_clipping",
    "train_batch_size",
    "train_micro_batch_size_per_gpu",
)


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_config_per_stage(stage):
    config = deepspeed_config(make_hp(zero_stage=stage))
    zero = config["zero_optimization"]
    assert zero["stage"] == stage
    assert config["fp16"]["enabled"] == "auto" and config["bf16"]["enabled"] == "auto"
    assert all(config[key] == "auto" for key in AUTO_KEYS)
    assert zero["reduce_bucket_size"] == "auto" and zero["overlap_comm"] and zero["contiguous_gradients"]
    stage3_keys = {k for k in zero if k.startswith("stage3_")}
    if stage == 3:
        assert zero["stage3_gather_16bit_weights_on_model_save"] is True
        assert zero["stage3_prefetch_bucket_size"] == "auto"
        assert zero["stage3_param_persistence_threshold"] == "auto"
        assert {"stage3_max_live_parameters", "stage3_max_reuse_distance"} <= stage3_keys
    else:
        assert not stage3_keys
    assert "offload_optimizer" not in zero and "offload_param" not in zero


def test_offloads():
    zero = deepspeed_config(make_hp(zero_stage=3, offload_optimizer=True, offload_params=True))[
        "zero_optimization"
    ]
    assert zero["offload_optimizer"] == {"device": "cpu", "pin_memory": True}
    assert zero["offload_param"] == {"device": "cpu", "pin_memory": True}
    zero2 = deepspeed_config(make_hp(zero_stage=2, offload_optimizer=True))["zero_optimization"]
    assert "offload_optimizer" in zero2 and "offload_param" not in zero2


def test_bad_choices_are_clear_errors():
    with pytest.raises(ValueError, match="zero_stage must be"):
        deepspeed_config(make_hp())
    with pytest.raises(ValueError, match="optimizer offload needs zero_stage 1, 2 or 3"):  # method_rules
        deepspeed_config(make_hp(zero_stage=0, offload_optimizer=True))


def test_written_file_is_json(tmp_path):
    path = write_deepspeed_config(make_hp(zero_stage=2), tmp_path)
    assert json.loads(path.read_text())["zero_optimization"]["stage"] == 2


def test_single_process_is_the_plain_child():
    cmd, env = build_launch(Path("/r/config.json"), make_hp(), python="/py")
    assert cmd == ["/py", "-m", "worker.training.sft", "--config", "/r/config.json"] and env == {}
    assert build_command(Path("/r/config.json"), make_hp())[0] == sys.executable


@pytest.mark.parametrize(("procs", "stage"), [(2, 2), (1, 3), (2, None)])
def test_launcher_for_deepspeed_or_several_processes(procs, stage, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", "/cache/ext")
    cmd, env = build_launch(
        Path("/r/config.json"), make_hp(num_processes=procs, zero_stage=stage), python="/py"
    )
    assert cmd[:3] == ["/py", "-m", "torch.distributed.run"] and "--standalone" in cmd
    assert cmd[cmd.index("--nproc_per_node") + 1] == str(procs)
    assert cmd[-4:] == ["-m", "worker.training.sft", "--config", "/r/config.json"]
    assert env == {"TORCH_EXTENSIONS_DIR": "/cache/ext"}


def test_extensions_cache_defaults_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _, env = build_launch(Path("c.json"), make_hp(num_processes=2, zero_stage=1))
    assert env["TORCH_EXTENSIONS_DIR"] == str(tmp_path / "ftstudio" / "torch_extensions")


def test_prebuild_names_the_ops_the_launch_needs():
    assert prebuild_command(make_hp()) is None
    code = prebuild_command(make_hp(zero_stage=2), python="/py")
    assert code[:2] == ["/py", "-c"] and "ShareMemCommBuilder" in code[2] and "CPUAdam" not in code[2]
    assert "CPUAdamBuilder" in prebuild_command(make_hp(zero_stage=2, offload_optimizer=True))[2]
