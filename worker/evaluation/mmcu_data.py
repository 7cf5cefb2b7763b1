"""Read multiple-choice test sets. PURE: openpyxl and the standard library; no torch.

Two forms:

* the MMCU folder layout (Felixgithub2017/MMCU, TestChatGLM.py): ``test/<subject>.xlsx`` and
  ``dev/<subject>.xlsx``; subjects 心理, 法律, 医疗 (one sheet per medical sub-subject, named like
  ``临床医学101题``) and 教育_<subject>. Every sheet: a header row, column 0 the question, columns
  1..ncol-2 the options A, B, C, D, the last column the answer letters (often several: ``ABD``).
* a flat CSV or JSONL file for custom domain tests: columns/keys ``question, A, B, C, D, answer`` and optional
  ``subject`` and ``domain``.

A question's identity is (file, sheet, row): file = the workbook stem (``法律``, ``教育_数学``, ``医疗``) or
the flat file's stem, sheet = the sheet name (``Sheet1`` for flat files), row = the 0-based data row under the
header. Predictions files use the same three keys.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

from worker.evaluation.mmcu_scoring import normalize_answer

LETTERS = "ABCD"
# MMCU's four domains; 教育_<x> files all belong to 教育.
DOMAINS: tuple[str, ...] = ("医疗", "法律", "心理", "教育")
_SHEET_COUNT_SUFFIX = re.compile(r"\d+题$")


class McDataError(ValueError):
    """The folder or file is not a readable multiple-choice set; the message says what is wrong."""


@dataclass(frozen=True)
class McQuestion:
    file: str
    sheet: str
    row: int
    question: str
    options: tuple[str, str, str, str]
    answer_raw: str
    answer: str  # normalised: sorted distinct letters from A-D, e.g. "ABD"; "" when the cell had none
    subject: str  # the sub-file MMCU reports on: the sheet for 医疗, else the file
    domain: str

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.file, self.sheet, self.row)


def domain_of(file_stem: str) -> str:
    """MMCU domain of a workbook stem: 教育_数学 -> 教育, 医疗 -> 医疗; anything else is its own domain."""
    head = file_stem.split("_", 1)[0]
    return head if head in DOMAINS else file_stem


def bare_subject(sheet: str) -> str:
    """``临床医学101题`` -> ``临床医学``: MMCU's medical sheet names end in the question count."""
    return _SHEET_COUNT_SUFFIX.sub("", sheet) or sheet


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a numeric option 17 must not read as "17.0"
    return str(value).strip()


def _rows_to_questions(
    file: str, sheet: str, rows: list[tuple], *, subject: str, domain: str
) -> list[McQuestion]:
    if not rows:
        return []
    width = max(len(r) for r in rows)
    if width < 6:
        raise McDataError(f"{file}/{sheet}: expected columns question, A, B, C, D, answer (6), found {width}")
    out = []
    for i, raw in enumerate(rows[1:]):  # rows[0] is the header
        cells = [_cell(v) for v in raw] + [""] * (width - len(raw))
        if not any(cells):
            continue  # blank line (often trailing); keep the row numbering of the sheet
        options = cells[1 : width - 1][:4]
        if len(options) < 4:
            options += [""] * (4 - len(options))
        # Keep the answer cell as written (a trailing U+3000 included) so reports can show the dirty cell.
        answer_raw = "" if len(raw) < width or raw[width - 1] is None else str(raw[width - 1])
        out.append(
            McQuestion(
                file=file,
                sheet=sheet,
                row=i,
                question=cells[0],
                options=tuple(options),  # type: ignore[arg-type]
                answer_raw=answer_raw,
                answer=normalize_answer(answer_raw),
                subject=subject,
                domain=domain,
            )
        )
    return out


def read_workbook(path: Path) -> list[McQuestion]:
    """All questions of one MMCU-layout workbook, every sheet."""
    import openpyxl

    stem = path.stem
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a non-xlsx file
        raise McDataError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    try:
        out: list[McQuestion] = []
        multi_sheet = len(wb.worksheets) > 1
        for ws in wb.worksheets:
            rows = list(ws.iter_rows(values_only=True))
            # MMCU reports the 医疗 workbook per sheet; a one-sheet workbook is one sub-file.
            subject = ws.title if multi_sheet else stem
            out += _rows_to_questions(stem, ws.title, rows, subject=subject, domain=domain_of(stem))
        return out
    finally:
        wb.close()


def read_mmcu_dir(data_dir: str | Path, split: str = "test") -> list[McQuestion]:
    """Every question under ``data_dir/<split>/*.xlsx``, files in sorted order (as MMCU's scripts)."""
    folder = Path(data_dir) / split
    if not folder.is_dir():
        raise McDataError(f"{data_dir}: no '{split}/' folder; an MMCU set has test/<subject>.xlsx files")
    files = sorted(p for p in folder.glob("*.xlsx") if not p.name.startswith("~$"))
    if not files:
        raise McDataError(f"{folder}: no .xlsx files")
    questions: list[McQuestion] = []
    for path in files:
        questions += read_workbook(path)
    return questions


def read_dev_examples(data_dir: str | Path) -> dict[str, list[McQuestion]]:
    """Dev questions per file stem (the k-shot pool); {} when there is no dev/ folder."""
    if not (Path(data_dir) / "dev").is_dir():
        return {}
    pool: dict[str, list[McQuestion]] = {}
    for q in read_mmcu_dir(data_dir, "dev"):
        pool.setdefault(q.file, []).append(q)
    return pool


def read_flat(path: str | Path) -> list[McQuestion]:
    """A custom set as CSV (header row) or JSONL: question, A, B, C, D, answer[, subject, domain]."""
    path = Path(path)
    if not path.is_file():
        raise McDataError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            records = list(csv.DictReader(fh))
    elif path.suffix.lower() in (".jsonl", ".json"):
        records = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise McDataError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
    else:
        raise McDataError(f"{path}: use .csv or .jsonl for a flat multiple-choice file")
    out = []
    for i, rec in enumerate(records):
        missing = [k for k in ("question", *LETTERS, "answer") if k not in rec]
        if missing:
            raise McDataError(f"{path}: record {i} lacks {', '.join(missing)}")
        subject = _cell(rec.get("subject")) or path.stem
        out.append(
            McQuestion(
                file=path.stem,
                sheet="Sheet1",
                row=i,
                question=_cell(rec["question"]),
                options=tuple(_cell(rec[k]) for k in LETTERS),  # type: ignore[arg-type]
                answer_raw=_cell(rec["answer"]),
                answer=normalize_answer(_cell(rec["answer"])),
                subject=subject,
                domain=_cell(rec.get("domain")) or subject,
            )
        )
    if not out:
        raise McDataError(f"{path}: no questions")
    return out


def read_questions(data: str | Path) -> tuple[list[McQuestion], dict[str, list[McQuestion]]]:
    """A folder in MMCU layout or a flat file: (test questions, dev pool per file stem)."""
    data = Path(data)
    if data.is_dir():
        return read_mmcu_dir(data, "test"), read_dev_examples(data)
    if data.is_file():
        return read_flat(data), {}
    raise McDataError(f"{data}: neither an MMCU folder nor a .csv/.jsonl file")
