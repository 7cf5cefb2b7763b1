"""The `ftstudio plan` command (--json shape, errors) and the HTTP surfaces (API and the form's panel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.cli import plan_command
from app.planner import PlanRequest, plan


@pytest.fixture()
def cli() -> typer.Typer:
    app = typer.Typer()
    plan_command.register(app)

    @app.command()
    def noop() -> None:  # a second command keeps typer in multi-command mode, as in the real CLI
        """placeholder"""

    return app


def test_json_shape_and_same_numbers_as_the_library(cli: typer.Typer) -> None:
    args = [
        "plan",
        "--model",
        "Qwen/Qwen2-7B",
        "--method",
        "qlora",
        "--lora-r",
        "16",
        "--double-quant",
        "--precision",
        "bf16",
        "--optimizer",
        "paged-adamw-8bit",
        "--gpu",
        "RTX4090",
        "--seq-len",
        "2048",
        "--micro-batch",
        "2",
        "--grad-accum",
        "4",
        "--gradient-checkpointing",
        "--flash-attention",
        "--train-tokens",
        "1000000",
        "--json",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    for key in ("per_gpu", "cpu_bytes", "fits", "estimated_seconds", "recommendations"):
        assert key in out
    assert set(out["per_gpu"]) >= {"peak_bytes", "breakdown"}
    assert sum(out["per_gpu"]["breakdown"].values()) == out["per_gpu"]["peak_bytes"]
    lib = plan(
        PlanRequest(
            model="Qwen/Qwen2-7B",
            method="qlora",
            lora_r=16,
            double_quant=True,
            precision="bf16",
            optimizer="paged-adamw-8bit",
            gpu="RTX4090",
            seq_len=2048,
            micro_batch=2,
            grad_accum=4,
            gradient_checkpointing=True,
            flash_attention=True,
            train_tokens=1_000_000,
        )
    )
    assert out["per_gpu"]["peak_bytes"] == lib.per_gpu.peak_bytes
    assert out["fits"] == lib.fits and out["estimated_seconds"] == pytest.approx(lib.estimated_seconds)


def test_zero_offload_and_nodes_flags(cli: typer.Typer) -> None:
    args = [
        "plan",
        "--model",
        "meta-llama/Llama-2-13b-hf",
        "--method",
        "full",
        "--zero",
        "3",
        "--offload-optimizer",
        "--offload-params",
        "--num-gpus",
        "8",
        "--num-nodes",
        "2",
        "--json",
    ]
    out = json.loads(CliRunner().invoke(cli, args).output)
    assert out["request"]["zero"] == 3 and out["request"]["num_nodes"] == 2
    assert out["deepspeed_config"]["zero_optimization"]["offload_param"]["device"] == "cpu"
    assert out["cpu_bytes"] > 0


def test_human_output_lists_the_breakdown(cli: typer.Typer, tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(
        json.dumps(
            {
                "model_type": "llama",
                "hidden_size": 256,
                "intermediate_size": 688,
                "num_hidden_layers": 4,
                "num_attention_heads": 4,
                "vocab_size": 1000,
            }
        )
    )
    result = CliRunner().invoke(cli, ["plan", "--model", str(cfg), "--method", "full"])
    assert result.exit_code == 0, result.output
    assert "Peak per GPU" in result.output and "optimizer states" in result.output and "fits" in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model", "nobody/nothing"], "known id"),
        (["--model", "Qwen/Qwen2-7B", "--method", "dpo"], "--method"),
        (["--model", "Qwen/Qwen2-7B", "--gpu", "GTX-480"], "gpu"),
        (["--model", "Qwen/Qwen2-7B", "--offload-params"], "offload_params"),
        (["--model", "Qwen/Qwen2-7B", "--lora-targets", "W_pack"], "lora_targets"),
    ],
)
def test_bad_input_exits_2_and_names_the_problem(cli: typer.Typer, args: list[str], needle: str) -> None:
    result = CliRunner().invoke(cli, ["plan", *args])
    assert result.exit_code == 2
    assert needle in result.output


def test_resolver_hook_maps_catalog_ids(cli: typer.Typer) -> None:
    plan_command.register(typer.Typer(), resolver=lambda mid: "Qwen/Qwen2-0.5B" if mid == "demo" else None)
    try:
        out = json.loads(CliRunner().invoke(cli, ["plan", "--model", "demo", "--json"]).output)
        assert out["num_params"] == 494_032_768
    finally:
        plan_command.resolve_model = None


def test_api_plan_and_errors(studio_client) -> None:
    r = studio_client.post(
        "/api/v1/plans", json={"model": "Qwen/Qwen2-7B", "method": "lora", "seq_len": 2048}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["per_gpu"]["peak_bytes"] == sum(body["per_gpu"]["breakdown"].values())
    assert isinstance(body["recommendations"], list)
    missing = studio_client.post("/api/v1/plans", json={"model": "nobody/nothing"})
    assert missing.status_code == 404 and missing.json()["field"] == "model"
    bad = studio_client.post("/api/v1/plans", json={"model": "Qwen/Qwen2-7B", "seq_len": 0})
    assert bad.status_code == 422 and bad.json()["field"] == "seq_len"
    targets = studio_client.post("/api/v1/plans", json={"model": "Qwen/Qwen2-7B", "lora_targets": "W_pack"})
    assert targets.status_code == 422 and targets.json()["field"] == "lora_targets"


def test_api_resolves_a_catalog_id(studio_client, bench_model_dir: Path) -> None:
    reg = studio_client.post("/api/v1/models", json={"path": str(bench_model_dir), "id": "bench-llama"})
    if reg.status_code not in (200, 201):
        pytest.skip(f"the catalog did not register a config-only folder: {reg.status_code} {reg.text[:200]}")
    r = studio_client.post("/api/v1/plans", json={"model": reg.json()["id"], "method": "full"})
    assert r.status_code == 200, r.text
    assert r.json()["num_params"] == 100_092_672


def test_form_panel_renders_bar_badge_and_fill_buttons(studio_client) -> None:
    form = {
        "base_model": "Qwen/Qwen2-7B",
        "method": "full",
        "per_device_train_batch_size": "4",
        "gradient_accumulation_steps": "1",
        "max_seq_length": "2048",
        "precision": "bf16",
        "optim": "adamw_torch",
        "zero_stage": "",
        "num_processes": "1",
        "plan_gpu": "A100-80GB",
        "plan_flash_attention": "on",
    }
    r = studio_client.post("/ui/plans/breakdown", data=form)
    assert r.status_code == 200
    html = r.text
    assert 'id="plan-bar"' in html and html.count('class="plan-seg"') >= 4
    assert 'data-fits="false"' in html  # full fine-tuning of 7B in AMP on one 80 GB card does not fit
    assert "data-fill=" in html and "per_device_train_batch_size" in html
    lora = studio_client.post(
        "/ui/plans/breakdown", data={**form, "method": "qlora", "per_device_train_batch_size": "1"}
    )
    assert 'data-fits="true"' in lora.text


def test_form_panel_shows_errors_instead_of_failing(studio_client) -> None:
    r = studio_client.post("/ui/plans/breakdown", data={"base_model": "nobody/nothing", "method": "lora"})
    assert r.status_code == 200 and 'id="plan-error"' in r.text
    r = studio_client.post("/ui/plans/breakdown", data={"method": "lora"})
    assert 'id="plan-error"' in r.text and "base model" in r.text


def test_the_real_ftstudio_cli_has_the_plan_command() -> None:
    from app.cli.main import cli as ftstudio

    result = CliRunner().invoke(ftstudio, ["plan", "--model", "Qwen/Qwen2-0.5B", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["num_params"] == 494_032_768
