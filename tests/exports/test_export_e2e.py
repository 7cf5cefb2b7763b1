"""Export and resume end to end: the real app, a real Celery worker and real child processes on the tiny
Llama model, over PostgreSQL + Redis and SQLite + the filesystem broker (the spine's `studio` fixture)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.exports.helpers import FAST, submit_train, wait_for_job
from tests.spine.studio import Studio

pytestmark = pytest.mark.slow

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


@pytest.fixture(scope="module")
def trained(client: TestClient, running_worker: Studio, dataset_id: int, tiny_model_id: str) -> dict:
    """One LoRA run of 6 steps with checkpoints at 3 and 6, shared by the tests below."""
    job = submit_train(client, dataset_id, tiny_model_id, name="tiny lora", **FAST)
    return wait_for_job(client, job["id"], {"succeeded"}, timeout=300)


def check_export_succeeded(client: TestClient, export_id: int) -> dict:
    done = wait_for_job(client, export_id, {"succeeded", "failed"}, timeout=300)
    assert done["status"] == "succeeded", done["error"]
    return done


def _export(client: TestClient, job_id: int, **body: object) -> dict:
    response = client.post(f"/api/v1/jobs/{job_id}/export", json=body)
    assert response.status_code == 201, response.text
    return check_export_succeeded(client, response.json()["id"])


def test_merged_export_enters_the_catalog_and_trains_again(
    client: TestClient, trained: dict, dataset_id: int, tiny_model_dir: Path
) -> None:
    from safetensors.numpy import load_file

    done = _export(client, trained["id"], mode="merged", dtype="fp32", name="tiny lora merged")
    model_id = done["result"]["model_id"]
    assert model_id == "tiny-lora-merged"
    models = {m["id"]: m for m in client.get("/api/v1/models").json()}
    entry = models[model_id]
    assert entry["source"] == "export" and entry["created_by_job_id"] == done["id"]
    folder = Path(entry["path"])
    assert folder == Path(done["config"]["output_dir"]).resolve()
    files = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "export.json"} <= files
    assert not [f for f in files if f.endswith(PICKLE_SUFFIXES)]
    # The LoRA update is folded in: the adapted weights moved away from the base, the shapes did not.
    merged, base = load_file(folder / "model.safetensors"), load_file(tiny_model_dir / "model.safetensors")
    name = next(k for k in base if k.endswith("self_attn.q_proj.weight"))
    assert merged[name].shape == base[name].shape and merged[name].dtype.name == "float32"
    assert abs(merged[name] - base[name]).max() > 1e-6
    assert not any("lora_" in k for k in merged)
    # The catalog knows its size (it showed "–" for every export and registered folder).
    assert entry["num_parameters"] == sum(v.size for v in merged.values())

    # The job page offers the download and "fine-tune again" with the model preselected.
    page = client.get(f"/jobs/{done['id']}?lang=en").text
    assert 'id="job-step"' not in page and 'id="job-loss"' not in page  # an export has neither
    assert f'href="/api/v1/exports/{done["id"]}/download"' in page
    assert f'href="/jobs/new?model={model_id}"' in page
    assert f'<option value="{model_id}" selected' in client.get(f"/jobs/new?model={model_id}").text

    # Fine-tune the export again, on the same machinery.
    again = submit_train(client, dataset_id, model_id, **{**FAST, "max_steps": 2, "save_steps": 2})
    again = wait_for_job(client, again["id"], {"succeeded"}, timeout=300)
    assert again["config"]["base_model"]["path"] == str(folder)
    assert again["progress"]["step"] == 2


def test_adapter_export_from_the_cli_downloads_as_a_zip_without_pickles(
    client: TestClient, studio: Studio, trained: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if studio.mode != "embedded":
        pytest.skip("the download does not touch the database or broker; one run (embedded) keeps CI short")
    from app.cli import api_client
    from app.cli.main import cli
    from app.web import create_app
    from tests.clients import studio_client

    # The CLI's REST client, pointed at the in-process app instead of a TCP port.
    def in_process(self: api_client.ApiClient, base_url: str | None = None, timeout: float = 60.0) -> None:
        self.http = studio_client(create_app(), base_url="http://localhost/api/v1")

    monkeypatch.setattr(api_client.ApiClient, "__init__", in_process)
    target = tmp_path / "adapter.zip"
    args = ["export", str(trained["id"]), "--mode", "adapter", "--dtype", "bf16", "--checkpoint-step", "3"]
    result = CliRunner().invoke(cli, [*args, "--watch", "--download", str(target)])
    assert "export job " in result.output, result.output
    export_id = int(result.output.split("export job ", 1)[1].split()[0])
    done = check_export_succeeded(client, export_id)
    assert result.exit_code == 0, result.output
    assert done["result"]["model_id"] is None
    assert done["config"]["checkpoint_path"].endswith("checkpoints/checkpoint-3")

    archive = zipfile.ZipFile(io.BytesIO(target.read_bytes()))
    names = {Path(n).name for n in archive.namelist()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= names
    assert not [n for n in names if n.endswith(PICKLE_SUFFIXES)]
    assert json.loads(archive.read(f"ftstudio-export-{export_id}/adapter_config.json"))["peft_type"] == "LORA"
    from safetensors.torch import load as load_safetensors

    tensors = load_safetensors(archive.read(f"ftstudio-export-{export_id}/adapter_model.safetensors"))
    assert tensors and {str(t.dtype) for t in tensors.values()} == {"torch.bfloat16"}
    # The API serves the same archive; an adapter is not a catalog model.
    response = client.get(f"/api/v1/exports/{export_id}/download")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert response.content == target.read_bytes()
    assert all(m["created_by_job_id"] != export_id for m in client.get("/api/v1/models").json())


def test_resume_from_a_checkpoint_repeats_the_uninterrupted_loss_curve(
    client: TestClient, trained: dict
) -> None:
    response = client.post(f"/api/v1/jobs/{trained['id']}/resume", json={"checkpoint_step": 3})
    assert response.status_code == 201, response.text
    resumed = wait_for_job(client, response.json()["id"], {"succeeded"}, timeout=300)
    assert resumed["parent_job_id"] == trained["id"] and resumed["progress"]["step"] == 6

    def losses(job_id: int) -> dict[int, float]:
        metrics = client.get(f"/api/v1/jobs/{job_id}/metrics").json()
        return {m["step"]: m["loss"] for m in metrics if m["kind"] == "train"}

    original, again = losses(trained["id"]), losses(resumed["id"])
    assert sorted(again) == [4, 5, 6]
    # Optimizer, scheduler, data order and RNG (LoRA dropout) come back from the checkpoint: same curve.
    for step in (4, 5, 6):
        assert again[step] == pytest.approx(original[step], rel=1e-4, abs=1e-6), (step, original, again)
