"""ingest_file: one uploaded file -> normalised conversations + a report (the quality gate's front door)."""

from __future__ import annotations

from pathlib import Path

from app.datasets.ingest.dedup import Progress, find_duplicates
from app.datasets.ingest.filenames import safe_filename
from app.datasets.ingest.formats import TOOL_ROLES, detect_format, normalise_record, resolve_fields
from app.datasets.ingest.readers import read_file
from app.datasets.ingest.schema import (
    MAX_REPORTED_PROBLEMS,
    IngestError,
    IngestOptions,
    IngestReport,
    RowError,
    RowProblem,
)
from app.datasets.ingest.stats import conversation_stats
from app.datasets.ingest.validate import check_turns

DETECTION_SAMPLE = 200  # records looked at to recognise the format


def _row_id(record: dict, position: int, used: set[str]) -> str:
    """The source's own id when it is a unique string (traceable in review), else row-<position>."""
    own = record.get("id")
    if isinstance(own, str) and (len(own) > 200 or any(0xD800 <= ord(c) <= 0xDFFF for c in own)):
        own = None  # an id we could not store or show; the row keeps its position instead
    if isinstance(own, str | int) and not isinstance(own, bool) and str(own).strip() and str(own) not in used:
        return str(own)
    fallback = f"row-{position}"
    return fallback if fallback not in used else f"row-{position}-{len(used)}"


def _has_tool_turns(record: dict, fmt: str, fields: dict[str, str]) -> bool:
    if fmt not in ("sharegpt", "messages"):
        return False
    turns = record.get(fields["conversations" if fmt == "sharegpt" else "messages"])
    return isinstance(turns, list) and any(
        isinstance(t, dict) and str(t.get(fields["role"], "")).lower() in TOOL_ROLES for t in turns
    )


def _notes(fmt: str, counts: dict[str, int]) -> list[str]:
    notes = []
    if counts["trailing_user"]:
        notes.append(f"{counts['trailing_user']} conversations ended on a user turn with no answer; "
                     "that last user turn was removed.")  # fmt: skip
    if counts["preference"]:
        notes.append(f"{counts['preference']} rows are preference pairs (chosen/rejected): the chosen answer "
                     "is used as the assistant turn; rejected answers are not used.")  # fmt: skip
    if counts["tools"]:
        notes.append(f"{counts['tools']} rows contain tool calls: function calls became assistant turns, "
                     "tool results (observations) became user turns, tool definitions went into the "
                     "system prompt.")  # fmt: skip
    if counts["loss_weight"]:
        notes.append(f"{counts['loss_weight']} rows set a per-message loss_weight other than the default "
                     "(user 0, assistant 1); it is ignored: every assistant turn carries loss.")  # fmt: skip
    return notes


def _odd_loss_weight(record: dict, fmt: str, fields: dict[str, str]) -> bool:
    if fmt != "messages" or not isinstance(record.get(fields["messages"]), list):
        return False
    for m in record[fields["messages"]]:
        if isinstance(m, dict) and "loss_weight" in m:
            default = 1.0 if m.get(fields["role"]) == "assistant" else 0.0
            if m["loss_weight"] != default:
                return True
    return False


def ingest_file(
    path: Path, *, original_filename: str, options: IngestOptions, progress: Progress | None = None
) -> tuple[list[dict], IngestReport]:
    """Read, detect, normalise, validate and de-duplicate one file. Writes nothing.

    `progress(done, total)` follows the de-duplication, the long part on big files (rows done / rows).
    Raises IngestError for an unreadable file, an unknown format, or (on_invalid="reject") any row problem.
    """
    options.check()
    safe_filename(original_filename)
    raw = read_file(
        Path(path),
        original_filename=original_filename,
        max_bytes=options.max_bytes,
        max_rows=options.max_rows,
        max_xlsx_rows=options.max_xlsx_rows,
    )
    if not raw.records:
        first = raw.problems[0]
        message = f"no valid rows; first problem at row {first.row}: {first.reason}"
        raise IngestError(message, field=first.field)
    sample = [record for _, record in raw.records[:DETECTION_SAMPLE]]
    fmt = options.format or detect_format(sample, options.mapping)
    fields = resolve_fields(fmt, options.mapping, sample)
    problems: list[RowProblem] = list(raw.problems)
    rows: list[dict] = []
    used_ids: set[str] = set()
    counts = {"trailing_user": 0, "preference": 0, "tools": 0, "loss_weight": 0}
    for position, record in raw.records:
        try:
            checked = check_turns(normalise_record(record, fmt, fields), max_chars=options.max_chars)
        except RowError as exc:
            problems.append(RowProblem(position, exc.field, exc.reason))
            continue
        length = sum(len(m["content"]) for m in checked.messages)
        if length > options.max_row_chars:
            # A hard limit, whatever on_invalid says: such a row costs memory in every later step.
            raise IngestError(
                f"row {position} is {length:,} characters long, over the limit of {options.max_row_chars:,} "
                "characters per row (FTSTUDIO_MAX_ROW_CHARS); split long conversations",
                field="row",
            )
        row_id = _row_id(record, position, used_ids)
        used_ids.add(row_id)
        rows.append({"id": row_id, "messages": checked.messages})
        counts["trailing_user"] += checked.dropped_trailing_user
        counts["preference"] += fmt == "sharegpt" and fields["chosen"] in record
        counts["tools"] += _has_tool_turns(record, fmt, fields)
        counts["loss_weight"] += _odd_loss_weight(record, fmt, fields)
    problems.sort(key=lambda p: p.row)
    if problems and options.on_invalid == "reject":
        first = problems[0]
        raise IngestError(
            f"{len(problems)} rows have problems, first at row {first.row} ({first.field}): {first.reason}",
            field=first.field,
            problems=problems[:MAX_REPORTED_PROBLEMS],
        )
    if not rows:
        first = problems[0]
        raise IngestError(
            f"no valid rows as {fmt}; first problem at row {first.row} ({first.field}): {first.reason}",
            field=first.field,
            problems=problems[:MAX_REPORTED_PROBLEMS],
        )
    inline_limit = options.inline_near_dup_rows
    near = inline_limit is None or len(rows) <= inline_limit or options.dedup == "drop_all"
    duplicates = find_duplicates(
        rows, near_threshold=options.near_dup_threshold, progress=progress, near=near
    )
    if not near:
        raw.notes.append(
            f"{len(rows):,} rows: near-duplicates are searched by the dataset analysis job (run it from the "
            "dataset page), not during the upload; exact duplicates were checked here."
        )
    drop: set[int] = set()
    if options.dedup in ("drop_exact", "drop_all"):
        drop.update(duplicates["exact_rows"])
    if options.dedup == "drop_all":
        drop.update(duplicates["near_rows"])
    if drop:
        rows = [r for i, r in enumerate(rows) if i not in drop]
    report = IngestReport(
        format=fmt,
        encoding=raw.encoding,
        file_type=raw.file_type,
        num_source_rows=raw.num_source_rows,
        num_rows=len(rows),
        num_invalid=len(problems),
        problems=problems[:MAX_REPORTED_PROBLEMS],
        duplicates=duplicates,
        stats=conversation_stats(rows),
        num_problems=len(problems),
        num_duplicates_dropped=len(drop),
        notes=raw.notes + _notes(fmt, counts),
    )
    return rows, report
