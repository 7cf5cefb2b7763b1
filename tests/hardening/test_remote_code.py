"""A model folder with its own code (auto_map in config.json) does not run that code unless an admin put
the model on the allow-list; the worker loads weights from safetensors only."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.hardening.conftest import chat, jsonl, make_model_folder, upload

EVIL = """
import pathlib
pathlib.Path({marker!r}).write_text("the model's own code ran")
from transformers import LlamaConfig


class EvilConfig(LlamaConfig):
    model_type = "evil"
"""


def _custom_code_folder(root: Path) -> tuple[Path, Path]:
    marker = root / "code-ran.txt"
    folder = make_model_folder(
        root / "custom",
        config={
            "architectures": ["LlamaForCausalLM"],
            "model_type": "evil",
            "auto_map": {"AutoConfig": "configuration_evil.EvilConfig"},
        },
    )
    (folder / "configuration_evil.py").write_text(EVIL.format(marker=str(marker)), encoding="utf-8")
    return folder, marker


def test_custom_code_does_not_run_unless_allowed(tmp_path: Path) -> None:
    from worker.training.config import BaseModelSpec, ConfigError
    from worker.training.model_loading import load_tokenizer

    folder, marker = _custom_code_folder(tmp_path)
    with pytest.raises(ConfigError):
        load_tokenizer(BaseModelSpec(path=str(folder), trust_remote_code=False))
    assert not marker.exists(), "the model's code ran although trust_remote_code was off"
    # The same folder on the allow-list: its code does run (so the check above can fail).
    with pytest.raises(ConfigError):  # no tokenizer files; the config (and its code) loads first
        load_tokenizer(BaseModelSpec(path=str(folder), trust_remote_code=True))
    assert marker.exists()


def test_weights_load_from_safetensors_only() -> None:
    from worker.safe_loading import check_adapter_folder, weight_kwargs

    assert weight_kwargs(gguf_file=None, trust_remote_code=False) == {
        "trust_remote_code": False,
        "use_safetensors": True,
    }
    assert weight_kwargs(gguf_file="m.gguf", trust_remote_code=False)["gguf_file"] == "m.gguf"
    with pytest.raises(ValueError, match="safetensors only"):
        check_adapter_folder(Path("/nonexistent-adapter"))


@pytest.mark.slow
def test_a_pickle_only_folder_does_not_load(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Even past registration (a folder changed afterwards), the worker refuses pickled weights."""
    import shutil

    import torch
    from safetensors.torch import load_file

    from worker.evaluation.loading import ModelLoadError, load_for_eval

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    weights = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError):
        load_for_eval(str(folder), device="cpu")


def test_jobs_get_trust_remote_code_only_from_the_allow_list(client, tmp_path: Path) -> None:
    """The worker's flag is the job's config, which the web side fills from the allow-list only."""
    from app.db import session_scope
    from app.models import Job

    folder, _ = _custom_code_folder(tmp_path)
    model_id = f"code-{uuid.uuid4().hex[:8]}"
    assert client.post("/api/v1/models", json={"path": str(folder), "id": model_id}).status_code == 201
    dataset = upload(client, "d.jsonl", jsonl(chat(), chat("二"), chat("三"), chat("四")))
    assert dataset.status_code == 201, dataset.text

    def job_flag() -> bool:
        body = {"dataset_id": dataset.json()["id"], "base_model": model_id}
        response = client.post("/api/v1/jobs", json=body)
        assert response.status_code in (201, 202), response.text
        with session_scope() as session:
            job = session.get(Job, response.json()["id"])
            client.post(f"/api/v1/jobs/{job.id}/cancel")
            return job.config["base_model"]["trust_remote_code"]

    assert job_flag() is False
    assert client.post(f"/api/v1/models/{model_id}/trust-remote-code").status_code == 200
    assert job_flag() is True
    assert client.delete(f"/api/v1/models/{model_id}/trust-remote-code").status_code == 200
    assert job_flag() is False
    assert json.loads((folder / "config.json").read_text())["auto_map"]  # the folder itself is untouched


def test_no_unsafe_load_in_the_code() -> None:
    """Every torch.load in app/ and worker/ passes weights_only=True; nothing unpickles."""
    import re

    from app.migrations import REPO_ROOT

    offenders = []
    for folder in ("app", "worker"):
        for source in (REPO_ROOT / folder).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            for match in re.finditer(r"torch\.load\((?P<args>[^)]*)\)", text):
                if "weights_only=True" not in match.group("args"):
                    offenders.append(f"{source}: {match.group(0)[:80]}")
            if re.search(r"\bpickle\.loads?\(|\bjoblib\.load\(", text):
                offenders.append(f"{source}: unpickles")
    assert not offenders, "\n".join(offenders)
