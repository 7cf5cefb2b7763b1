"""Where a dataset version's files live and how they are written and read.

A version folder (``datasets/<dataset id>/v<n>/`` under the data directory) holds:
- ``rows.jsonl``: every row in the version's canonical order; sha256 of this file == the version's
  content_hash (app.datasets.ingest.store), so a stored version can be checked against its row;
- ``train.jsonl`` / ``val.jsonl``: the split training reads (docs/CONTRACTS.md).
Folders are written under a temporary name and renamed into place last: a version is complete or absent.
Versions made before rows.jsonl existed are read as train + val.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from app.datasets.ingest import write_jsonl_atomic
from app.errors import Conflict, NotFound
from app.models import DatasetVersion
from app.settings import get_settings

SPLITS = ("train", "val")


def version_relative_path(dataset_id: int, version: int) -> Path:
    return Path("datasets") / str(dataset_id) / f"v{version}"


def version_folder(version: DatasetVersion) -> Path:
    return get_settings().resolved_data_dir / version.path


def write_version_files(
    dataset_id: int, version_number: int, rows: list[dict], train: list[dict], val: list[dict]
) -> str:
    """Write the three files of a new version; returns its folder relative to the data directory."""
    relative = version_relative_path(dataset_id, version_number)
    final = get_settings().resolved_data_dir / relative
    staging = final.with_name(final.name + f".tmp-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        write_jsonl_atomic(rows, staging / "rows.jsonl")
        write_jsonl_atomic(train, staging / "train.jsonl")
        write_jsonl_atomic(val, staging / "val.jsonl")
        if final.exists():
            raise Conflict(f"Storage for {relative} already exists; refusing to overwrite a version.")
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return str(relative)


def remove_version_folder(relative: str) -> None:
    if relative:
        shutil.rmtree(get_settings().resolved_data_dir / relative, ignore_errors=True)


def iter_rows(version: DatasetVersion, split: str | None = None) -> Iterator[dict]:
    """Rows of one split (train / val), or all rows in canonical order when split is None."""
    folder = version_folder(version)
    if split is None:
        names = ["rows.jsonl"] if (folder / "rows.jsonl").is_file() else ["train.jsonl", "val.jsonl"]
    elif split in SPLITS:
        names = [f"{split}.jsonl"]
    else:
        raise ValueError(f"unknown split {split!r}")
    for name in names:
        path = folder / name
        if not path.is_file():
            if name == "val.jsonl":
                continue
            raise NotFound(f"The files of dataset version {version.version} are missing ({path.name}).")
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


def read_rows(version: DatasetVersion, split: str | None = None) -> list[dict]:
    return list(iter_rows(version, split))
