"""`method: "auto"` (issue #12, point 6): full fine-tuning for a small model when a full fine-tune fits the
devices that will train, LoRA otherwise; resolved the same way by the job API, the plan API, the CLI's plan
and the form (whose default it is). The job records the concrete method, its learning rate and why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.i18n import translate_format
from app.planner import KNOWN_CONFIGS, load_model_shape, request_from_hyperparameters
from app.planner.method_choice import SMALL_MODEL_MAX_PARAMS, choose_method
from tests.spine.conftest import write_dataset

SMALL = "HuggingFaceTB/SmolLM2-135M-Instruct"
BIG = "Qwen/Qwen2-7B"


def test_small_model_gets_full_only_where_it_fits() -> None:
    shape = load_model_shape(SMALL)
    assert shape.num_params <= SMALL_MODEL_MAX_PARAMS
    for device in ("cpu", "gpu"):
        request, _ = request_from_hyperparameters(SMALL, {}, method="full", device=device)
        choice = choose_method(request, shape)
        assert choice.method == "full", choice.reason
        assert "fits" in choice.reason
    # The same small model on a 4 GiB card: its full fine-tune plans at ~6 GiB (16 bytes per parameter plus
    # activations at batch 4 x 384), so auto falls back to LoRA.
    cramped, _ = request_from_hyperparameters(
        SMALL, {}, method="full", gpu="small-card", gpu_memory_gib=4.0, gpu_tflops=10.0
    )
    choice = choose_method(cramped, shape)
    assert choice.method == "lora" and "GiB" in choice.reason
    big, _ = request_from_hyperparameters(BIG, {}, method="full", gpu="H100-80GB")
    choice = choose_method(big, load_model_shape(BIG))
    assert choice.method == "lora" and "1B" in choice.reason


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from tests.clients import sqlite_studio_client

    with sqlite_studio_client(tmp_path_factory.mktemp("studio")) as client:
        yield client


def _register(client, tmp: Path, model_id: str, config: dict) -> None:  # noqa: ANN001 - TestClient
    folder = tmp / model_id
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    response = client.post("/api/v1/models", json={"path": str(folder), "id": model_id})
    assert response.status_code == 201, response.text


def test_job_api_resolves_auto_and_records_why(studio, tmp_path: Path) -> None:
    _register(studio, tmp_path, "small-auto", KNOWN_CONFIGS[SMALL])
    _register(studio, tmp_path, "big-auto", KNOWN_CONFIGS[BIG])
    path = write_dataset(tmp_path / "rows.jsonl")
    with path.open("rb") as handle:
        uploaded = studio.post("/api/v1/datasets", files={"file": (path.name, handle)}, data={"name": "d"})
    assert uploaded.status_code == 201, uploaded.text
    dataset_id = uploaded.json()["id"]
    expected = {"small-auto": ("full", 2e-4), "big-auto": ("lora", 2e-4)}
    for model_id, (method, rate) in expected.items():
        body = {"dataset_id": dataset_id, "base_model": model_id, "method": "auto", "hyperparameters": {}}
        created = studio.post("/api/v1/jobs", json=body)
        assert created.status_code in (201, 202), created.text
        job = studio.get(f"/api/v1/jobs/{created.json()['id']}").json()
        assert job["method"] == method
        assert job["config"]["method"] == method
        assert job["config"]["hyperparameters"]["learning_rate"] == rate
        assert job["config"]["method_choice"]["method"] == method and job["config"]["method_choice"]["reason"]
        page = studio.get(f"/jobs/{job['id']}?lang=en")
        assert 'id="job-method-choice"' in page.text  # the job page says why
        assert unescape(job["config"]["method_choice"]["reason"]) in unescape(page.text)
        # ... in the page's language: the stored template and values, translated then filled.
        choice = job["config"]["method_choice"]
        assert choice["reason_template"].format(**choice["reason_values"]) == choice["reason"]
        chinese = unescape(studio.get(f"/jobs/{job['id']}?lang=zh").text)
        assert translate_format(choice["reason_template"], choice["reason_values"], "zh") in chinese
        assert choice["reason"] not in chinese and "参数" in chinese
    # An explicit method is never second-guessed, and nothing records a choice.
    body = {"dataset_id": dataset_id, "base_model": "small-auto", "method": "lora", "hyperparameters": {}}
    job = studio.get(f"/api/v1/jobs/{studio.post('/api/v1/jobs', json=body).json()['id']}").json()
    assert job["method"] == "lora" and "method_choice" not in job["config"]


def test_plan_api_and_cli_plan_auto_as_the_job_would(studio) -> None:
    body = {"model": SMALL, "method": "auto", "hyperparameters": {}, "device": "cpu"}
    result = studio.post("/api/v1/plans", json=body)
    assert result.status_code == 200, result.text
    assert result.json()["request"]["method"] == "full"
    assert result.json()["notes"][0].startswith("auto: full, because")
    big = studio.post("/api/v1/plans", json={**body, "model": BIG, "device": "gpu"}).json()
    assert big["request"]["method"] == "lora"

    from app.cli.main import cli

    out = CliRunner().invoke(cli, ["plan", "--model", SMALL, "--method", "auto", "--device", "cpu", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["request"]["method"] == "full"


def test_form_defaults_to_auto_and_its_panel_says_what_auto_means(studio) -> None:
    page = studio.get("/jobs/new")
    assert page.status_code == 200
    assert '<option value="auto" selected' in page.text
    form = {"base_model": SMALL, "method": "auto", "plan_gpu": "cpu"}
    panel = studio.post("/ui/plans/breakdown?lang=en", data=form)
    assert panel.status_code == 200
    assert "auto: full, because" in panel.text
    chinese = studio.post("/ui/plans/breakdown?lang=zh", data=form)  # the page's language, whole sentence
    assert "自动：full，因为135M 参数，全参数微调放得下" in chinese.text and "because" not in chinese.text
