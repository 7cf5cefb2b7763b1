"""Human review: a paginated, searchable view of a version's rows, and flags on rows.

Flags are review notes kept in the version's report (``report["review"]["flagged"]``); they change no row,
so the version's files and content hash stay as they were. Dropping rows makes a new version
(app.datasets.versions)."""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from app.datasets.schemas import FlagRequest, RowRead, RowsPage
from app.datasets.service import DatasetService
from app.datasets.storage import SPLITS, iter_rows
from app.errors import InvalidInput
from app.models import DatasetVersion

MAX_PAGE_SIZE = 200


def _matches(row: dict, needle: str) -> bool:
    if needle in str(row.get("id", "")).lower():
        return True
    return any(needle in str(m.get("content", "")).lower() for m in row.get("messages") or [])


class ReviewService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.service = DatasetService(session)

    def rows_page(
        self,
        owner_id: int,
        dataset_id: int,
        *,
        version: int | None = None,
        split: str = "train",
        q: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> RowsPage:
        """One page of rows; `q` is a case-insensitive substring of the row id or any turn's text.

        Reads the version's file each time (streaming): no index to keep in step with immutable files.
        """
        if split not in SPLITS:
            raise InvalidInput(f"split must be train or val, not {split!r}", field="split")
        if page < 1:
            raise InvalidInput("page must be 1 or more", field="page")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"page_size must be between 1 and {MAX_PAGE_SIZE}", field="page_size")
        found = self.service.get_version(owner_id, dataset_id, version)
        flagged = set(flagged_ids(found))
        needle = (q or "").strip().lower()
        start, stop = (page - 1) * page_size, page * page_size
        total = 0
        rows: list[RowRead] = []
        for row in iter_rows(found, split):
            if needle and not _matches(row, needle):
                continue
            if start <= total < stop:
                row_id = str(row["id"])
                rows.append(
                    RowRead(id=row_id, split=split, flagged=row_id in flagged, messages=row["messages"])
                )
            total += 1
        return RowsPage(
            version=found.version,
            split=split,
            q=q or None,
            page=page,
            page_size=page_size,
            total=total,
            pages=max(1, math.ceil(total / page_size)),
            rows=rows,
        )

    def find_row(self, version: DatasetVersion, row_id: str) -> dict:
        for row in iter_rows(version):
            if str(row["id"]) == row_id:
                return row
        raise InvalidInput(f"Row {row_id!r} is not in version {version.version}.", field="row_id")

    def set_flags(self, owner_id: int, dataset_id: int, request: FlagRequest) -> list[str]:
        """Flag (or unflag) rows of a version; returns the version's flagged ids."""
        found = self.service.get_version(owner_id, dataset_id, request.version)
        wanted = {str(i) for i in request.row_ids}
        present = {str(r["id"]) for r in iter_rows(found)}
        unknown = sorted(wanted - present)
        if unknown:
            raise InvalidInput(
                f"Row ids not in version {found.version}: {', '.join(unknown[:10])}", field="row_ids"
            )
        current = flagged_ids(found)
        if request.flagged:
            updated = current + sorted(wanted - set(current))
        else:
            updated = [i for i in current if i not in wanted]
        report = dict(found.report or {})
        report["review"] = {**(report.get("review") or {}), "flagged": updated}
        found.report = report  # a new dict: SQLAlchemy's JSON type only sees reassignment
        self.session.commit()
        return updated


def flagged_ids(version: DatasetVersion) -> list[str]:
    return [str(i) for i in ((version.report or {}).get("review") or {}).get("flagged") or []]
