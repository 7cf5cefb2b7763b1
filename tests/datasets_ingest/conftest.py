"""Fixtures of the dataset-ingest tests: the shared real data folder, and a writer of small files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# The repo's parent folder holds shared/ (real public data, never copied into the repo).
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data folder {SHARED_DATA} is absent (it sits next to the repository)")
    return SHARED_DATA


@pytest.fixture
def write_json(tmp_path: Path):
    def _write(name: str, value: object) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def write_jsonl(tmp_path: Path):
    def _write(name: str, rows: list[dict]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def chatml_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real byte-level BPE tokenizer with the ChatML template, trained locally (the hubs are offline)."""
    from worker.training.tiny_model import train_tokenizer

    path = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(vocab_size=600, with_chat_template=True).save_pretrained(path)
    return str(path)
