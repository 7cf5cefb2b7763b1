"""Reading a file of any supported type into raw records, each with its 1-based position in the file.

Positions: JSON array -> element number; JSONL -> line number; CSV/TSV -> record number counting the
header as row 1 (what a spreadsheet shows); xlsx -> the sheet's row number; Parquet -> row number.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from app.datasets.ingest.encoding import decode_text
from app.datasets.ingest.schema import IngestError, RowProblem

# Keys under which a JSON object commonly keeps its list of rows ({"data": [...]}), tried in this order.
_LIST_KEYS = ("data", "train", "rows", "records", "examples", "instances", "items")
_CONVERSATION_KEYS = ("messages", "conversations", "conversation")
# More than this share of control characters (besides tab/CR/LF) means the "text" is binary data.
_MAX_CONTROL_SHARE = 0.01
_CSV_CELL_LIMIT = 64 * 1024 * 1024
# An xlsx is a zip: before openpyxl reads it, its members must not expand past these (a zip bomb: a 98 KB
# file once expanded into 300,000 rows and 28 s of web CPU). Real sheets compress 5-20x.
_XLSX_MAX_RATIO = 100
_XLSX_RATIO_FROM = 5 * 1024 * 1024  # small members may compress better; they cost nothing
_XLSX_MAX_EXPANDED = 1024 * 1024 * 1024
_TOO_DEEP = "the JSON is nested too deeply (more than a few hundred levels); it is not a dataset"


@dataclass
class RawFile:
    file_type: str  # json | jsonl | csv | tsv | xlsx | parquet
    encoding: str  # "binary" for xlsx and parquet
    records: list[tuple[int, dict]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)  # rows that are not even records
    notes: list[str] = field(default_factory=list)  # what the reader chose, for the report

    @property
    def num_source_rows(self) -> int:
        return len(self.records) + len(self.problems)


def read_file(
    path: Path,
    *,
    original_filename: str,
    max_bytes: int,
    max_rows: int = 1_000_000,
    max_xlsx_rows: int = 100_000,
) -> RawFile:
    """Read `path` (named `original_filename` by the user); raise IngestError when it cannot be read."""
    raw = _read_any(
        path, original_filename=original_filename, max_bytes=max_bytes, max_xlsx_rows=max_xlsx_rows
    )
    if raw.num_source_rows > max_rows:
        raise IngestError(
            f"the file has {raw.num_source_rows:,} rows, over the limit of {max_rows:,} rows per upload; "
            "split it into several datasets",
            field="file",
        )
    return raw


def _read_any(path: Path, *, original_filename: str, max_bytes: int, max_xlsx_rows: int) -> RawFile:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(f"cannot read the uploaded file: {exc.strerror}") from exc
    if size == 0:
        raise IngestError("the file is empty")
    if size > max_bytes:
        message = f"the file is {size:,} bytes, over the limit of {max_bytes:,} bytes"
        raise IngestError(message, field="max_bytes")  # the field lets the web answer 413, not 400
    suffix = Path(original_filename).suffix.lower()
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _read_zip_container(path, max_xlsx_rows)
    if head.startswith(b"PAR1"):
        return _read_parquet(path)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise IngestError("old Excel .xls files are not supported; save the sheet as .xlsx or CSV")
    if head.startswith(b"\x1f\x8b"):
        raise IngestError("the file is gzip-compressed; upload the uncompressed file")
    text, encoding = decode_text(path.read_bytes())
    _refuse_binary_text(text)
    if not text.strip():
        raise IngestError("the file contains only whitespace")
    stripped = text.lstrip()
    if suffix == ".jsonl" or (stripped[0] == "{" and suffix != ".json"):
        return _read_json_or_jsonl(text, encoding, prefer_lines=True)
    if stripped[0] in "[{":
        return _read_json_or_jsonl(text, encoding, prefer_lines=False)
    if suffix == ".json":
        raise IngestError("the .json file does not start with '[' or '{'; it is not JSON")
    return _read_delimited(text, encoding, tab=suffix == ".tsv")


def _refuse_binary_text(text: str) -> None:
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if controls > _MAX_CONTROL_SHARE * len(sample):
        raise IngestError("the file is binary, not text")


def _read_zip_container(path: Path, max_xlsx_rows: int) -> RawFile:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise IngestError("the file looks like a zip archive but is damaged") from exc
    names = {info.filename for info in infos}
    if "xl/workbook.xml" in names:
        _refuse_zip_bomb(infos)
        return _read_xlsx(path, max_xlsx_rows)
    raise IngestError("zip archives are not supported; upload the JSON, JSONL, CSV, xlsx or Parquet inside")


def _refuse_zip_bomb(infos: list[zipfile.ZipInfo]) -> None:
    """Checked from the zip's directory, before a byte is inflated."""
    expanded = sum(info.file_size for info in infos)
    if expanded > _XLSX_MAX_EXPANDED:
        raise IngestError(
            f"the xlsx file expands to {expanded:,} bytes, over the limit of {_XLSX_MAX_EXPANDED:,}; "
            "save it as CSV",
            field="file",
        )
    for info in infos:
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > _XLSX_RATIO_FROM and ratio > _XLSX_MAX_RATIO:
            raise IngestError(
                f"the xlsx file's {info.filename} expands {ratio:.0f} times (over {_XLSX_MAX_RATIO}): "
                "it looks like a zip bomb, not a spreadsheet; save it as CSV",
                field="file",
            )


def _loads(text: str) -> object:
    """json.loads with deep nesting as a ValueError (json raises RecursionError, a 500 otherwise)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise IngestError(_TOO_DEEP) from None


def _json_error(exc: json.JSONDecodeError) -> IngestError:
    where = f"line {exc.lineno}, column {exc.colno}"
    return IngestError(f"the JSON is invalid or truncated at {where}: {exc.msg}")


def _read_json_or_jsonl(text: str, encoding: str, *, prefer_lines: bool) -> RawFile:
    if not prefer_lines:
        try:
            data = _loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data" or not text.lstrip().startswith("{"):
                raise _json_error(exc) from exc
            # JSON Lines saved under a .json name (common): several objects one after another.
        else:
            return _from_json_value(data, encoding)
    lines = text.split("\n")  # not splitlines(): U+2028 inside a JSON string is legal and is not a row end
    non_blank = [ln for ln in lines if ln.strip()]
    first_is_record = False
    with contextlib.suppress(json.JSONDecodeError, RecursionError):
        first_is_record = isinstance(json.loads(non_blank[0]), dict)
    if not first_is_record or len(non_blank) == 1:
        # One JSON value spread over several lines ({"data": [...]}), or a file of a single object.
        try:
            data = _loads(text)
        except json.JSONDecodeError as exc:
            raise _json_error(exc) from exc
        return _from_json_value(data, encoding)
    raw = RawFile(file_type="jsonl", encoding=encoding)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raw.problems.append(RowProblem(number, "line", f"invalid JSON at column {exc.colno}: {exc.msg}"))
            continue
        except RecursionError:
            raw.problems.append(RowProblem(number, "line", _TOO_DEEP))
            continue
        if isinstance(value, dict):
            raw.records.append((number, value))
        else:
            reason = f"a row must be a JSON object, not {_kind(value)}"
            raw.problems.append(RowProblem(number, "line", reason))
    if not raw.records:
        raise IngestError("no line of the JSON Lines file is a valid JSON object")
    return raw


def _kind(value: object) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), "null"
    )


def _from_json_value(data: object, encoding: str) -> RawFile:
    if isinstance(data, dict):
        data = _rows_of_object(data)
    if not isinstance(data, list):
        raise IngestError(f"the JSON holds {_kind(data)}; expected a list of rows")
    if not data:
        raise IngestError("the JSON list is empty")
    raw = RawFile(file_type="json", encoding=encoding)
    for number, value in enumerate(data, start=1):
        if isinstance(value, dict):
            raw.records.append((number, value))
        else:
            raw.problems.append(RowProblem(number, "row", f"a row must be a JSON object, not {_kind(value)}"))
    return raw


def _rows_of_object(obj: dict) -> list:
    """Find the list of rows inside a JSON object; a lone conversation object is one row."""
    if any(k in obj for k in _CONVERSATION_KEYS) or "instruction" in obj:
        return [obj]
    candidates = [k for k, v in obj.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
    if len(candidates) == 1:
        return obj[candidates[0]]
    for key in _LIST_KEYS:
        if key in candidates:
            return obj[key]
    if not candidates:
        return [obj]  # a single row; format detection says whether it is one
    raise IngestError(f"the JSON object holds several lists ({', '.join(candidates)}); keep only the rows")


def _header(cells: list, where: str) -> list[str]:
    names = [("" if c is None else str(c)).strip() for c in cells]
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise IngestError(f"the {where} has the column {name!r} twice")
        seen.add(name)
    if not any(names):
        raise IngestError(f"the {where} has no column names")
    return names


def _read_delimited(text: str, encoding: str, *, tab: bool) -> RawFile:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = "\t" if tab or first_line.count("\t") > first_line.count(",") else ","
    file_type = "tsv" if delimiter == "\t" else "csv"
    # The csv module's default cell limit (128 KiB) is below one long dialogue in a cell; the file itself
    # is already capped by max_bytes. (Process-wide, and only ever raised.)
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_CELL_LIMIT))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    raw = RawFile(file_type=file_type, encoding=encoding)
    header: list[str] | None = None
    try:
        for number, cells in enumerate(reader, start=1):
            if header is None:
                header = _header(cells, "CSV header")
                continue
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
                reason = f"{len(cells)} cells under {len(header)} columns"
                raw.problems.append(RowProblem(number, "row", reason))
                continue
            raw.records.append((number, {h: c for h, c in zip(header, cells, strict=False) if h}))
    except csv.Error as exc:
        raise IngestError(f"the CSV is malformed: {exc}") from exc
    if not raw.records and not raw.problems:
        raise IngestError("the CSV has a header but no rows")
    return raw


def _without_path(exc: BaseException, path: Path) -> str:
    """A library's error message without the server's temporary path (it names our file, not theirs)."""
    text = str(exc).replace(str(path), "the file").replace(str(path.parent), "")
    return text[:300] or type(exc).__name__


def _read_xlsx(path: Path, max_rows: int) -> RawFile:
    from openpyxl import load_workbook  # imported here: only xlsx uploads pay for it

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise IngestError(f"the xlsx file cannot be opened: {_without_path(exc, path)}") from exc
    try:
        sheet = workbook.worksheets[0]
        raw = RawFile(file_type="xlsx", encoding="binary")
        if len(workbook.worksheets) > 1:
            raw.notes.append(f"the workbook has {len(workbook.worksheets)} sheets; only the first, "
                             f"{sheet.title!r}, was read")  # fmt: skip
        header: list[str] | None = None
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if not any(v is not None and str(v).strip() for v in values):
                continue
            if header is None:
                header = _header(list(values), "first sheet's header row")
                continue
            if len(raw.records) >= max_rows:
                raise IngestError(
                    f"the sheet has more than {max_rows:,} rows, the limit for xlsx uploads; save it as CSV "
                    "or JSONL (their limit is higher)",
                    field="file",
                )
            raw.records.append((number, {h: v for h, v in zip(header, values, strict=False) if h}))
    except IngestError:
        raise
    except Exception as exc:  # a damaged sheet fails while streaming, not only when opened
        raise IngestError(f"the xlsx file cannot be read: {_without_path(exc, path)}") from exc
    finally:
        workbook.close()
    if not raw.records:
        raise IngestError("the first sheet of the xlsx file has no rows under its header")
    return raw


def _read_parquet(path: Path) -> RawFile:
    import pyarrow.parquet as pq  # imported here: only Parquet uploads pay for it

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError... for damaged files
        raise IngestError(f"the Parquet file cannot be read: {_without_path(exc, path)}") from exc
    rows = table.to_pylist()
    if not rows:
        raise IngestError("the Parquet file has no rows")
    return RawFile(file_type="parquet", encoding="binary", records=list(enumerate(rows, start=1)))
