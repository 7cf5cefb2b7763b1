"""Review makes new versions: drop rows (by id) and/or re-split. The base version's files and row are never
touched; the new version gets its own folder, content hash and split, and points at its parent."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.datasets.ingest import content_hash, conversation_stats
from app.datasets.repository import DatasetRepository
from app.datasets.schemas import NewVersionRequest
from app.datasets.service import DatasetService, do_split
from app.datasets.storage import read_rows, remove_version_folder, write_version_files
from app.errors import InvalidInput
from app.models import Dataset, DatasetVersion

MAX_LISTED = 1000  # ids listed in a report; counts are always complete


def _new_split(base: dict[str, Any], request: NewVersionRequest) -> dict[str, Any]:
    """The base version's split settings with the request's overrides (a count replaces a rate)."""
    split = {k: base.get(k) for k in ("val_set_size", "val_set_rate", "seed")}
    split["seed"] = 42 if split["seed"] is None else split["seed"]
    if request.val_set_size is not None:
        split.update(val_set_size=request.val_set_size, val_set_rate=None)
    if request.val_set_rate is not None:
        split.update(val_set_rate=request.val_set_rate, val_set_size=None)
    if request.seed is not None:
        split["seed"] = request.seed
    return split


def _carry_duplicates(duplicates: dict[str, Any], dropped: set[str]) -> dict[str, Any]:
    """The parent's duplicate report without the rows this version dropped (the analysis job recomputes
    it from scratch on the new rows)."""
    if not duplicates:
        return {}
    exact_ids = [i for i in duplicates.get("exact_ids") or [] if str(i) not in dropped]
    near_ids = [i for i in duplicates.get("near_ids") or [] if str(i) not in dropped]
    examples = [
        e for e in duplicates.get("examples") or [] if not any(str(i) in dropped for i in e.get("ids") or [])
    ]
    return {
        "exact": len(exact_ids),
        "near": len(near_ids),
        "threshold": duplicates.get("threshold"),
        "exact_ids": exact_ids,
        "near_ids": near_ids,
        "examples": examples,
        "carried_from_parent": True,
    }


class VersionService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.datasets = DatasetRepository(session)
        self.service = DatasetService(session)

    def create_version(self, owner_id: int, dataset_id: int, request: NewVersionRequest) -> DatasetVersion:
        dataset = self.service.get(owner_id, dataset_id)
        base = self.service.get_version(owner_id, dataset_id, request.base_version)
        rows = read_rows(base)
        present = {str(r["id"]) for r in rows}
        dropped = {str(i) for i in request.drop_row_ids}
        unknown = sorted(dropped - present)
        if unknown:
            shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
            raise InvalidInput(
                f"{len(unknown)} row ids are not in version {base.version}: {shown}", field="drop_row_ids"
            )
        split = _new_split(base.split or {}, request)
        old_split = {k: (base.split or {}).get(k) for k in split}
        if not dropped and split == old_split:
            raise InvalidInput(
                "Nothing would change: give row ids to drop or new split settings.", field="drop_row_ids"
            )
        kept = [r for r in rows if str(r["id"]) not in dropped]
        if not kept:
            raise InvalidInput("Dropping these rows would leave the dataset empty.", field="drop_row_ids")
        parent_report = base.report or {}
        review = parent_report.get("review") or {}
        report = {
            "problems": parent_report.get("problems") or [],
            "num_problems": parent_report.get("num_problems", 0),
            "notes": parent_report.get("notes") or [],
            "duplicates": _carry_duplicates(parent_report.get("duplicates") or {}, dropped),
            "stats": conversation_stats(kept),
            "review": {"flagged": [i for i in review.get("flagged") or [] if str(i) not in dropped]},
            "derived": {
                "from_version": base.version,
                "num_dropped": len(dropped),
                "dropped_ids": sorted(dropped)[:MAX_LISTED],
            },
        }
        return commit_derived_version(self.session, dataset, base, kept, split, report, request.note)


def commit_derived_version(
    session: Session,
    dataset: Dataset,
    base: DatasetVersion,
    rows: list[dict[str, Any]],
    split: dict[str, Any],
    report: dict[str, Any],
    note: str | None,
) -> DatasetVersion:
    """The next version of ``dataset`` made from ``base``: ``rows`` split with ``split``, files written, row
    committed; a failed commit removes the files again. Review and the playground's "save as data" both
    derive versions this way."""
    train, val = do_split(rows, split)
    number = max(v.version for v in dataset.versions) + 1
    version = DatasetVersion(
        dataset_id=dataset.id,
        version=number,
        parent_version_id=base.id,
        content_hash=content_hash(rows),
        path="",
        original_filename=base.original_filename,
        file_type=base.file_type,
        format=base.format,
        encoding=base.encoding,
        num_rows=len(rows),
        num_invalid=base.num_invalid,
        num_train=len(train),
        num_val=len(val),
        split={**split, "near_dup_threshold": (base.split or {}).get("near_dup_threshold", 0.8)},
        report=report,
        note=note,
    )
    version.path = write_version_files(dataset.id, number, rows, train, val)
    dataset.versions.append(version)
    try:
        session.commit()
    except BaseException:
        session.rollback()
        remove_version_folder(version.path)
        raise
    return version
