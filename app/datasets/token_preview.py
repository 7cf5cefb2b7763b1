"""Which tokens of a row carry loss, with a chosen base model's tokenizer and chat template.

The web process must not import transformers (docs/CONTRACTS.md), so the tokenizer runs elsewhere:
1. rows the analysis job previewed (the rows the user named, or the first training rows) are read from the
   version's stored analysis, instantly;
2. any other row runs `python -m worker.datasets.preview` as a short subprocess with a timeout (measured
   ~3-5 s, mostly importing transformers); its answer is cached on disk, keyed by the model path, the
   version's content hash, the row id and max_seq_length, so paging back and forth is instant.
A worker job per click would queue behind training jobs for minutes; the subprocess answers in seconds.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

from sqlalchemy.orm import Session

from app.catalog.service import CatalogService
from app.datasets.review import ReviewService
from app.datasets.schemas import TokenPreview
from app.datasets.service import DatasetService
from app.errors import InvalidInput, StudioError
from app.migrations import REPO_ROOT
from app.settings import get_settings

PREVIEW_TIMEOUT_SECONDS = 120


class PreviewUnavailable(StudioError):
    status_code = 503


def _cache_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


def _run_preview(row: dict, model_path: str, max_seq_length: int, trust_remote_code: bool) -> list[dict]:
    argv = [sys.executable, "-m", "worker.datasets.preview", "--model-path", model_path,
            "--max-seq-length", str(max_seq_length)]  # fmt: skip
    if trust_remote_code:
        argv.append("--trust-remote-code")
    try:
        done = subprocess.run(
            argv,
            input=json.dumps(row, ensure_ascii=False),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=PREVIEW_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise PreviewUnavailable(
            f"The token preview took longer than {PREVIEW_TIMEOUT_SECONDS} s; run an analysis job "
            "with this row in preview_row_ids instead."
        ) from None
    lines = done.stdout.strip().splitlines()
    answer: dict[str, Any] = {}
    if lines:
        try:
            answer = json.loads(lines[-1])
        except ValueError:
            answer = {}
    if done.returncode == 2 and "error" in answer:
        raise InvalidInput(f"Cannot preview this row with that model: {answer['error']}", field="model")
    if done.returncode != 0 or "pieces" not in answer:
        raise PreviewUnavailable(f"The token preview failed: {done.stderr.strip()[-500:]}")
    return answer["pieces"]


def token_preview(
    session: Session,
    owner_id: int,
    dataset_id: int,
    row_id: str,
    *,
    model_id: str,
    version: int | None = None,
    max_seq_length: int | None = None,
) -> TokenPreview:
    found = DatasetService(session).get_version(owner_id, dataset_id, version)
    model = CatalogService(session).get(model_id)
    analysis = (found.report or {}).get("analysis") or {}
    length = max_seq_length or analysis.get("max_seq_length") or 1024
    if length < 2:
        raise InvalidInput("max_seq_length must be at least 2", field="max_seq_length")
    pieces = None
    if analysis.get("model_id") == model.id and analysis.get("max_seq_length") == length:
        pieces = (analysis.get("previews") or {}).get(row_id)
    if pieces is None:
        row = ReviewService(session).find_row(found, row_id)
        cache_dir = get_settings().resolved_data_dir / "cache" / "token_previews"
        cache = cache_dir / f"{_cache_key(model.path, found.content_hash, row_id, length)}.json"
        if cache.is_file():
            pieces = json.loads(cache.read_text(encoding="utf-8"))
        else:
            pieces = _run_preview(row, model.path, length, model.trust_remote_code)
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(pieces, ensure_ascii=False), encoding="utf-8")
            tmp.replace(cache)
    return TokenPreview(
        row_id=row_id,
        version=found.version,
        model=model.id,
        max_seq_length=length,
        num_tokens=sum(len(p["ids"]) for p in pieces),
        num_loss_tokens=sum(len(p["ids"]) for p in pieces if p["carries_loss"]),
        pieces=pieces,
    )
