"""One config end to end (issue #12): the job's TrainHyperparameters are the plan request (API, CLI, form
panel) and the child's TrainingArguments; every rule lives once; the found defects of #11 and #12 each have
a test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.jobs.hyperparameters import TrainHyperparameters
from app.planner import PlanRequest, plan, request_from_hyperparameters

MODEL = "Qwen/Qwen2-7B"


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The real FastAPI app on a fresh SQLite data dir, through tests/clients.py."""
    from tests.clients import sqlite_studio_client

    with sqlite_studio_client(tmp_path_factory.mktemp("studio")) as client:
        yield client


def _set_workers(accelerators: list[dict], devices: list[list[dict]] | None = None) -> None:
    """Replace the registered workers (what worker/registry.py writes) with these."""
    from sqlalchemy import delete

    from app.db import session_scope
    from app.models import WorkerNode, utcnow

    with session_scope() as session:
        session.execute(delete(WorkerNode))
        for i, acc in enumerate(accelerators):
            now = utcnow()
            session.add(
                WorkerNode(
                    id=f"host:{i}", hostname="host", pid=i, queues=["default"], accelerators=acc,
                    devices=devices[i] if devices else [], status="online", started_at=now, last_seen_at=now,
                )
            )  # fmt: skip


# --- #11: accepted although wrong --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [("max_steps", 0), ("max_steps", True), ("num_train_epochs", 1e-300), ("metric_for_best", "bogus")],
)
def test_bad_values_are_422_naming_the_field(studio, field: str, value: object) -> None:
    body = {"dataset_id": 1, "base_model": "x", "method": "lora", "hyperparameters": {field: value}}
    r = studio.post("/api/v1/jobs", json=body)
    assert r.status_code == 422, r.text
    assert f"hyperparameters.{field}" in r.text


# --- the plan is the job -----------------------------------------------------------------------------------
def test_plan_defaults_are_the_job_defaults() -> None:
    req, _ = request_from_hyperparameters(MODEL, {}, method="lora")
    assert req == PlanRequest(model=MODEL)
    hp = TrainHyperparameters()
    assert (req.seq_len, req.micro_batch, req.grad_accum, req.lora_r, req.lora_targets, req.double_quant) == (
        hp.max_seq_length,
        hp.per_device_train_batch_size,
        hp.gradient_accumulation_steps,
        hp.lora_r,
        hp.lora_target_modules,
        hp.double_quant,
    )


@pytest.mark.parametrize("method", ["prefix", "prompt", "ia3", "ptuning", "lora", "full"])
def test_every_method_is_planned_as_itself(method: str) -> None:
    req, _ = request_from_hyperparameters(MODEL, {}, method=method)
    result = plan(req, with_recommendations=False)
    assert result.request.method == method
    assert result.trainable_params > 0


def test_plan_training_arguments_are_the_childs(tmp_path: Path) -> None:
    """The planner's TrainingArguments come from the same function the child uses (app/jobs/trainer_args)."""
    from app.jobs.trainer_args import trainer_kwargs

    values = {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2, "precision": "bf16"}
    req, _ = request_from_hyperparameters(MODEL, values, method="lora")
    planned = plan(req, with_recommendations=False).training_arguments
    hp = TrainHyperparameters(**values)
    child = trainer_kwargs("lora", hp, precision="bf16", cuda=True, has_eval=False)
    assert planned == child


def test_bf16_adapters_keep_no_fp32_copy_of_frozen_weights() -> None:
    """7B LoRA at bf16: frozen weights at 2 bytes per parameter and no autocast copies (peers: ~20 GB)."""
    result = plan(request_from_hyperparameters(MODEL, {"precision": "bf16"}, method="lora")[0])
    breakdown = result.per_gpu.breakdown
    assert "autocast weight copies" not in breakdown
    assert breakdown["weights (frozen)"] == pytest.approx(2 * result.num_params, rel=0.01)
    full = plan(request_from_hyperparameters(MODEL, {"precision": "bf16"}, method="full")[0])
    assert full.per_gpu.breakdown["weights (trainable)"] == 4 * full.num_params  # fp32 master weights


def test_qlora_zero3_is_planned_because_it_trains() -> None:
    req, _ = request_from_hyperparameters(MODEL, {"zero_stage": 3}, method="qlora")
    assert plan(req, with_recommendations=False).request.zero == 3


def test_recommendations_are_distinct_and_say_how_they_differ() -> None:
    req, _ = request_from_hyperparameters("meta-llama/Llama-2-7b-hf", {}, method="lora")
    recs = plan(req).recommendations
    assert len(recs) >= 2
    assert len({r.differs for r in recs}) == len(recs)
    assert recs[0].differs and all(r.differs in r.reason for r in recs)


# --- CLI: ftstudio plan takes the job's --hp or --config --------------------------------------------------
@pytest.fixture()
def cli() -> typer.Typer:
    from app.cli import plan_command

    app = typer.Typer()
    plan_command.register(app)
    app.command("noop")(lambda: None)
    return app


def test_cli_plan_hp_and_config_plan_exactly_the_job(cli: typer.Typer, tmp_path: Path) -> None:
    hp = {"per_device_train_batch_size": 4, "max_seq_length": 384, "lora_r": 16, "precision": "bf16"}
    args = ["plan", "--model", MODEL, "--method", "qlora", "--json"]
    by_hp = CliRunner().invoke(cli, [*args, *(f"--hp={k}={v}" for k, v in hp.items())])
    assert by_hp.exit_code == 0, by_hp.output
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"method": "qlora", "hyperparameters": hp}))
    by_config = CliRunner().invoke(cli, ["plan", "--model", MODEL, "--config", str(job), "--json"])
    assert by_config.exit_code == 0, by_config.output
    expected = plan(request_from_hyperparameters(MODEL, hp, method="qlora")[0]).per_gpu.peak_bytes
    for out in (by_hp, by_config):
        result = json.loads(out.output)
        assert result["per_gpu"]["peak_bytes"] == expected
        assert result["request"]["method"] == "qlora" and result["request"]["seq_len"] == 384


def test_cli_plan_bad_hp_names_the_field(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["plan", "--model", MODEL, "--hp", "max_steps=0"])
    assert result.exit_code == 2 and "max_steps" in result.output


# --- API and the form's panel ------------------------------------------------------------------------------
def test_api_plans_a_job_body_unchanged(studio) -> None:
    hp = {"per_device_train_batch_size": 4, "lora_target_modules": "attention", "precision": "bf16"}
    r = studio.post("/api/v1/plans", json={"model": MODEL, "method": "prefix", "hyperparameters": hp})
    assert r.status_code == 200, r.text
    expected = plan(request_from_hyperparameters(MODEL, hp, method="prefix")[0])
    assert r.json()["per_gpu"]["peak_bytes"] == expected.per_gpu.peak_bytes
    assert r.json()["request"]["method"] == "prefix"
    bad = studio.post("/api/v1/plans", json={"model": MODEL, "hyperparameters": {"max_steps": 0}})
    assert bad.status_code == 422 and "max_steps" in bad.text


def _panel(studio, **fields: str) -> str:
    form = {"base_model": MODEL, "method": "lora", **fields}
    r = studio.post("/ui/plans/breakdown", data=form)
    assert r.status_code == 200
    return r.text


def test_cpu_only_studio_gets_the_cpu_profile_and_the_fp16_rule(studio) -> None:
    _set_workers([{"cuda_visible_devices": None, "cpu_count": 2}])
    try:
        html = _panel(studio)
        assert '<option value="cpu" selected' in html and 'data-device="cpu"' in html
        assert "fp16 mixed precision needs a GPU" in _panel(studio, precision="fp16")
    finally:
        _set_workers([])


def test_the_workers_nvml_devices_decide(studio) -> None:
    """worker/registry.describe_devices (NVML) is what a worker reports today; it wins over `accelerators`."""
    h200 = {"kind": "gpu", "index": 0, "name": "NVIDIA H200", "memory_total_bytes": 141 * 2**30}
    _set_workers([{"cuda_visible_devices": None, "cpu_count": 16}], devices=[[h200]])
    try:
        assert '<option value="cpu" selected' not in _panel(studio)
    finally:
        _set_workers([])
    cpu = {"kind": "cpu", "cores": 2, "memory_total_bytes": 24 * 2**30}
    _set_workers([{"cuda_visible_devices": "0"}], devices=[[cpu]])
    try:
        assert '<option value="cpu" selected' in _panel(studio)
    finally:
        _set_workers([])


def test_gpu_studio_plans_its_card(studio) -> None:
    _set_workers([{"gpus": [{"name": "NVIDIA H100 80GB HBM3"}]}])
    try:
        assert '<option value="H100-80GB" selected' in _panel(studio)
    finally:
        _set_workers([])


def test_panel_recommendations_never_change_the_method(studio) -> None:
    html = _panel(studio, method="prefix", plan_gpu="A100-80GB", max_seq_length="2048",
                  per_device_train_batch_size="8")  # fmt: skip
    fills = [json.loads(unescape(part.split("'")[0])) for part in html.split("data-fill='")[1:]]
    assert fills, html
    assert all("method" not in fill for fill in fills)
    assert len({json.dumps(f, sort_keys=True) for f in fills}) == len(fills)


def test_form_clones_a_job(studio) -> None:
    from app.db import session_scope
    from app.models import Job

    hp = TrainHyperparameters(lora_r=32, learning_rate=3e-4, max_train_minutes=12.5).model_dump()
    config = {
        "method": "qlora", "hyperparameters": hp, "base_model": {"id": "m1"},
        "dataset": {"id": 7, "version": 2},
    }  # fmt: skip
    with session_scope() as session:
        job = Job(owner_id=1, kind="train", method="qlora", config=config, name="mine", status="succeeded")
        session.add(job)
        session.flush()
        job_id = job.id
    html = studio.get(f"/jobs/new?clone_from={job_id}").text
    assert 'id="cloned-from"' in html
    assert '<option value="qlora" selected' in html
    assert 'name="lora_r" id="hp-lora_r" value="32"' in html
    assert 'name="max_train_minutes" id="hp-max_train_minutes" value="12.5"' in html
    assert studio.get("/jobs/new?clone_from=999999").status_code == 404
