"""The tiny test model: a real tokenizer (Chinese + English, ChatML) and a loadable random-init model."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from worker.training.tiny_model import IM_END, IM_START, PAD, build_tiny_model


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_builds_a_loadable_model_and_tokenizer(tmp_path: Path, arch: str) -> None:
    started = time.perf_counter()
    out = build_tiny_model(tmp_path / arch, arch=arch)
    elapsed = time.perf_counter() - started
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert not list(out.glob("*.bin")), "weights must be safetensors only"
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out))
    assert json.loads((out / "config.json").read_text())["model_type"] == arch
    assert model.config.vocab_size == len(tokenizer)
    text = "咨询师认真倾听。 The counsellor listens."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text  # byte-level BPE: lossless for Chinese and English
    for token in (IM_START, IM_END, PAD):
        assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1, token
    assert tokenizer.pad_token == PAD
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), len(tokenizer))
    # Not a timing assertion on CI hardware: a generous bound only to catch e.g. a slow tokenizer trainer.
    assert elapsed < 60, f"building took {elapsed:.1f} s"


def test_chat_template_is_optional(tmp_path: Path) -> None:
    with_template = AutoTokenizer.from_pretrained(str(build_tiny_model(tmp_path / "a")))
    without = AutoTokenizer.from_pretrained(str(build_tiny_model(tmp_path / "b", with_chat_template=False)))
    rendered = with_template.apply_chat_template([{"role": "user", "content": "你好"}], tokenize=False)
    assert rendered == "<|im_start|>user\n你好<|im_end|>\n"
    assert not without.chat_template


def test_same_seed_same_weights(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    a = load_file(build_tiny_model(tmp_path / "a", seed=3) / "model.safetensors")
    b = load_file(build_tiny_model(tmp_path / "b", seed=3) / "model.safetensors")
    c = load_file(build_tiny_model(tmp_path / "c", seed=4) / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_rejects_unknown_arch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mamba"):
        build_tiny_model(tmp_path, arch="mamba")


def test_cli(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-m", "worker.training.tiny_model", str(tmp_path / "m"), "--arch", "qwen2"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1])["arch"] == "qwen2"
    assert (tmp_path / "m" / "tokenizer.json").is_file()
