"""The data types the ingest engine hands to its callers (report, options, errors)."""

from __future__ import annotations

from dataclasses import dataclass, field

FORMATS = ("alpaca", "sharegpt", "messages", "xtuner", "prompt_response")
ON_INVALID = ("drop", "reject")
DEDUP_MODES = ("report", "drop_exact", "drop_all")
# The report keeps the first problems only: a 1M-row file full of errors must not make a 1M-entry report.
MAX_REPORTED_PROBLEMS = 1000


class IngestError(ValueError):
    """A file or an option the engine refuses; the message names the problem in plain words (a 4xx)."""

    def __init__(
        self, message: str, *, field: str | None = None, problems: list[RowProblem] | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        # In reject mode: the row problems that caused the rejection (capped like the report's).
        self.problems: list[RowProblem] = problems or []


class RowError(ValueError):
    """One row that cannot become a conversation; becomes a RowProblem (internal to the engine)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass
class IngestOptions:
    max_bytes: int = 100 * 1024 * 1024
    format: str | None = None  # one of FORMATS, None = detect
    mapping: dict[str, str] | None = None  # canonical field -> the file's column, e.g. {"prompt": "问题"}
    on_invalid: str = "drop"  # "drop" | "reject"
    max_chars: int | None = None  # rows longer than this (all turns together) are invalid
    near_dup_threshold: float = 0.8  # Jaccard similarity of character 3-gram sets (MinHash LSH)
    dedup: str = "report"  # "report" | "drop_exact" | "drop_all"
    # Hard limits (the studio's settings): a row over max_row_chars refuses the whole file (a 422), as
    # does a file of more than max_rows rows; xlsx has its own, lower, row cap (parsing it is slow).
    max_row_chars: int = 500_000
    max_rows: int = 1_000_000
    max_xlsx_rows: int = 100_000
    # Near-duplicate search is skipped above this many rows (None: always run); the analysis job does it.
    inline_near_dup_rows: int | None = None

    def check(self) -> None:
        """Raise IngestError for option values the engine does not know."""
        if self.format is not None and self.format not in FORMATS:
            choices = ", ".join(FORMATS)
            raise IngestError(f"unknown format {self.format!r}; choose one of {choices}", field="format")
        if self.on_invalid not in ON_INVALID:
            message = f"on_invalid must be drop or reject, not {self.on_invalid!r}"
            raise IngestError(message, field="on_invalid")
        if self.dedup not in DEDUP_MODES:
            choices = ", ".join(DEDUP_MODES)
            raise IngestError(f"dedup must be one of {choices}, not {self.dedup!r}", field="dedup")
        if not 0.0 < self.near_dup_threshold <= 1.0:
            raise IngestError("near_dup_threshold must be in (0, 1]", field="near_dup_threshold")
        if self.max_bytes <= 0:
            raise IngestError("max_bytes must be positive", field="max_bytes")
        if self.max_chars is not None and self.max_chars <= 0:
            raise IngestError("max_chars must be positive", field="max_chars")
        if self.mapping is not None and not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in self.mapping.items()
        ):
            raise IngestError("mapping must map field names to non-empty column names", field="mapping")


@dataclass
class RowProblem:
    row: int  # 1-based position in the source file (see readers.py for what a position is per file type)
    field: str
    reason: str


@dataclass
class IngestReport:
    format: str
    encoding: str
    file_type: str
    num_source_rows: int
    num_rows: int
    num_invalid: int
    problems: list[RowProblem]  # the first MAX_REPORTED_PROBLEMS
    duplicates: dict
    stats: dict
    num_problems: int = 0  # total, problems may be capped
    num_duplicates_dropped: int = 0
    notes: list[str] = field(default_factory=list)  # what the engine changed or chose, in plain words
