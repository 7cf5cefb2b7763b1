"""The export / resume API and the method-aware form, through the real app and database, with no worker:
everything here is decided before a job is queued (422 / 409), or is a page."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from app.db import session_scope
from app.jobs.hyperparameters import METHODS
from app.models import Checkpoint, Job, JobStatus, utcnow
from tests.exports.helpers import submit_train
from tests.spine.studio import Studio


def _field_box(page: str, name: str) -> str:
    """The opening tag of the box (label or div) holding input/select id="hp-<name>"."""
    at = page.index(f'id="hp-{name}"')
    start = max(page.rfind("<label", 0, at), page.rfind("<div", 0, at))
    return page[start : page.index(">", start) + 1]


def _methods_of(page: str, name: str) -> set[str] | None:
    match = re.search(r'data-methods="([^"]*)"', _field_box(page, name))
    return set(match.group(1).split()) if match else None


def _make_stopped_with_checkpoint(studio: Studio, job_id: int, step: int) -> Path:
    """Turn a queued job into a cancelled one that saved a checkpoint (as a cancel mid-run leaves it)."""
    run_dir = studio.data_dir / "runs" / f"job-{job_id}"
    folder = run_dir / "checkpoints" / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    with session_scope() as session:
        job = session.get(Job, job_id)
        job.status, job.finished_at, job.run_dir = JobStatus.CANCELLED, utcnow(), str(run_dir)
        session.add(
            Checkpoint(job_id=job_id, step=step, path=f"checkpoints/checkpoint-{step}", created_at=utcnow())
        )
    return folder


def test_new_job_form_marks_fields_per_method(client: TestClient, tiny_model_id: str) -> None:
    page = client.get(f"/jobs/new?lang=en&model={tiny_model_id}").text
    for element_id in (
        "job-form",
        "job-dataset",
        "job-dataset-version",
        "job-model",
        "job-method",
        "job-name",
        "job-submit",
        "form-result",
        "plan-panel",
    ):
        assert f'id="{element_id}"' in page, element_id
    assert _methods_of(page, "lora_r") == {"lora", "qlora"}
    assert _methods_of(page, "lora_target_modules") == {"lora", "qlora"}
    assert _methods_of(page, "quant_bits") == {"qlora"}
    assert _methods_of(page, "double_quant") == {"qlora"}
    assert _methods_of(page, "num_virtual_tokens") == {"ptuning", "prefix", "prompt"}
    assert _methods_of(page, "adapter_bottleneck_size") == {"adapter"}
    assert _methods_of(page, "freeze_trainable_layers") == {"freeze"}
    for name in ("zero_stage", "offload_optimizer", "offload_params", "num_processes"):
        assert _methods_of(page, name) is None, name  # DeepSpeed trains with every method
    assert _methods_of(page, "gradient_checkpointing") == set(METHODS) - {"prefix"}
    assert _methods_of(page, "learning_rate") is None and _methods_of(page, "max_steps") is None
    # The two LoRA presets fill r and alpha; the target presets are a select beside the free text.
    fills = dict(re.findall(r'id="lora-preset-(\w+)"[^>]*data-fill=\'([^\']*)\'', page))
    assert {k: json.loads(v) for k, v in fills.items()} == {
        "basic": {"lora_r": 8, "lora_alpha": 16},
        "advanced": {"lora_r": 16, "lora_alpha": 32},
    }
    preset_select = page[
        page.index('id="lora-target-preset"') : page.index("</select>", page.index('id="lora-target-preset"'))
    ]
    for preset in ("attention", "attention+mlp", "all-linear"):
        assert f'value="{preset}"' in preset_select
    assert "name=" not in preset_select.split(">", 1)[0], "the preset select itself must not be sent"
    # The model named in the link ("fine-tune this export again") is preselected.
    assert re.search(rf'<option value="{tiny_model_id}" selected', page)
    assert "/static/js/method_fields.js" in page
    version_page = client.get("/jobs/new?lang=en&dataset_version=3").text
    assert re.search(r'id="job-dataset-version"[^>]*value="3"', version_page)
    script = client.get("/static/js/method_fields.js")
    assert script.status_code == 200 and "data-methods" in script.text and "disabled" in script.text


def test_a_refused_combination_shows_a_readable_error_next_to_the_form(
    client: TestClient, dataset_id: int, tiny_model_id: str
) -> None:
    response = client.post(
        "/ui/jobs",
        data={
            "dataset_id": str(dataset_id),
            "base_model": tiny_model_id,
            "method": "full",
            "offload_params": "on",
            "zero_stage": "2",
        },
    )
    assert response.status_code == 200 and "alert-error" in response.text
    assert "offload_params" in response.text and "zero_stage 3" in response.text
    assert "Traceback" not in response.text


def test_merged_export_of_a_ptuning_job_is_refused_before_launch(
    client: TestClient, studio: Studio, dataset_id: int, tiny_model_id: str
) -> None:
    job = submit_train(client, dataset_id, tiny_model_id, method="ptuning", max_steps=2)
    _make_stopped_with_checkpoint(studio, job["id"], 2)
    response = client.post(f"/api/v1/jobs/{job['id']}/export", json={"mode": "merged", "dtype": "fp32"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "mode" and "adapter" in response.json()["detail"]
    assert client.get(f"/api/v1/jobs/{job['id']}/exports").json() == []
    # The page offers only what the method can do.
    page = client.get(f"/jobs/{job['id']}?lang=en").text
    export_select = page[
        page.index('id="export-mode"') : page.index("</select>", page.index('id="export-mode"'))
    ]
    assert 'value="adapter"' in export_select and 'value="merged"' not in export_select


def test_nothing_to_export_is_409_and_unknown_checkpoints_are_422(
    client: TestClient, dataset_id: int, tiny_model_id: str
) -> None:
    job = submit_train(client, dataset_id, tiny_model_id, max_steps=2)
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    response = client.post(f"/api/v1/jobs/{job['id']}/export", json={})
    assert response.status_code == 409, response.text
    assert "checkpoint" in response.json()["detail"]
    response = client.post(f"/api/v1/jobs/{job['id']}/export", json={"checkpoint_step": 7})
    assert response.status_code == 422 and response.json()["field"] == "checkpoint_step"
    assert client.post("/api/v1/jobs/999999/export", json={}).status_code == 404
    response = client.post(f"/api/v1/jobs/{job['id']}/export", json={"dtype": "int4"})
    assert response.status_code == 422 and "dtype" in response.json()["detail"]
    # The page of a job with nothing saved offers neither resume nor export.
    page = client.get(f"/jobs/{job['id']}?lang=en").text
    assert 'id="resume-form"' not in page and 'id="export-form"' not in page


def test_export_from_a_checkpoint_queues_an_export_job_and_download_waits_for_it(
    client: TestClient, studio: Studio, dataset_id: int, tiny_model_id: str
) -> None:
    job = submit_train(client, dataset_id, tiny_model_id, max_steps=4)
    folder = _make_stopped_with_checkpoint(studio, job["id"], 3)
    page = client.get(f"/jobs/{job['id']}?lang=en").text
    assert 'id="resume-form"' in page and '<option value="3">' in page
    assert 'id="export-form"' in page and f'hx-get="/ui/jobs/{job["id"]}/exports"' in page

    response = client.post(f"/api/v1/jobs/{job['id']}/export", json={"mode": "adapter", "checkpoint_step": 3})
    assert response.status_code == 201, response.text
    export = response.json()
    assert export["kind"] == "export" and export["parent_job_id"] == job["id"]
    assert export["config"]["checkpoint_path"] == str(folder)
    assert export["config"]["mode"] == "adapter" and export["config"]["method"] == "lora"
    out = Path(export["config"]["output_dir"])
    assert out.is_relative_to(studio.data_dir) and not out.exists()
    assert set(export["config"]["base_model"]) == {"path", "gguf_file", "trust_remote_code"}
    # Listed on the train job; not downloadable before it succeeded.
    assert [e["id"] for e in client.get(f"/api/v1/jobs/{job['id']}/exports").json()] == [export["id"]]
    assert f'data-export-id="{export["id"]}"' in client.get(f"/ui/jobs/{job['id']}/exports").text
    assert client.get(f"/api/v1/exports/{export['id']}/download").status_code == 409
    assert client.get(f"/api/v1/exports/{job['id']}/download").status_code == 404  # a train job

    # A "succeeded" export whose folder lies outside the data directory is never served.
    with session_scope() as session:
        row = session.get(Job, export["id"])
        row.status = JobStatus.SUCCEEDED
        row.config = {**row.config, "output_dir": str(Path(__file__).resolve().parent)}
    response = client.get(f"/api/v1/exports/{export['id']}/download")
    assert response.status_code == 409 and "outside" in response.json()["detail"]


def test_page_forms_export_and_resume_redirect_to_the_new_job(
    client: TestClient, studio: Studio, dataset_id: int, tiny_model_id: str
) -> None:
    job = submit_train(client, dataset_id, tiny_model_id, max_steps=4)
    _make_stopped_with_checkpoint(studio, job["id"], 2)
    response = client.post(
        f"/ui/jobs/{job['id']}/export", data={"mode": "merged", "dtype": "bf16", "checkpoint_step": "2"}
    )
    assert response.status_code == 204 and re.fullmatch(r"/jobs/\d+", response.headers["HX-Redirect"])
    response = client.post(f"/ui/jobs/{job['id']}/export", data={"mode": "merged", "checkpoint_step": "x"})
    assert "alert-error" in response.text and "checkpoint_step" in response.text
    response = client.post(f"/ui/jobs/{job['id']}/resume", data={"checkpoint_step": "2", "max_steps": "6"})
    assert response.status_code == 204, response.text
    resumed = client.get(f"/api/v1/jobs/{response.headers['HX-Redirect'].rsplit('/', 1)[1]}").json()
    assert resumed["parent_job_id"] == job["id"]
    assert resumed["config"]["resume_from_checkpoint"].endswith("checkpoints/checkpoint-2")
    assert resumed["config"]["hyperparameters"]["max_steps"] == 6
    response = client.post(f"/ui/jobs/{job['id']}/resume", data={"checkpoint_step": "5"})
    assert "alert-error" in response.text and "checkpoint" in response.text


def test_cli_resume_and_export_go_through_the_api(
    client: TestClient, studio: Studio, dataset_id: int, tiny_model_id: str, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from app.cli import api_client
    from app.cli.main import cli
    from app.web import create_app
    from tests.clients import studio_client

    def in_process(self: api_client.ApiClient, base_url: str | None = None, timeout: float = 60.0) -> None:
        self.http = studio_client(create_app(), base_url="http://localhost/api/v1")

    monkeypatch.setattr(api_client.ApiClient, "__init__", in_process)
    job = submit_train(client, dataset_id, tiny_model_id, method="prompt", max_steps=4)
    _make_stopped_with_checkpoint(studio, job["id"], 2)
    result = CliRunner().invoke(cli, ["resume", str(job["id"]), "--checkpoint-step", "2", "--max-steps", "5"])
    assert result.exit_code == 0, result.output
    new_id = int(result.output.split()[1])
    resumed = client.get(f"/api/v1/jobs/{new_id}").json()
    assert resumed["parent_job_id"] == job["id"] and resumed["config"]["hyperparameters"]["max_steps"] == 5
    result = CliRunner().invoke(cli, ["export", str(job["id"]), "--mode", "merged"])
    assert result.exit_code == 1 and "422" in result.output and "adapter" in result.output
    result = CliRunner().invoke(cli, ["export", str(job["id"]), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["config"]["mode"] == "adapter"  # the method's default mode
