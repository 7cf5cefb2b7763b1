"""Score multiple-choice answers the way MMCU does. PURE: standard library only.

* Keys and predictions are normalised to a sorted string of distinct letters from A-D (NFKC folds full-width
  ``ＡＢＤ``, U+3000 and other spaces vanish, commas and lower case are tolerated), and a question is right
  only on an exact set match (MMCU paper, arXiv 2304.12986; its scripts compare the label with spaces and
  full-width letters removed).
* Generated text is read with MMCU's own rule (TestChatGLM.py ``find_valid_substrings``): drop 、 . , ; ，
  then take the first maximal run of 1-4 letters from A-D whose letters are all distinct.
* Aggregation as MMCU publishes: accuracy per sub-file (each 医疗 sheet, every other file), a domain's score
  is the UNWEIGHTED mean of its sub-files, and the overall (平均) is the unweighted mean of the domains
  (check: bloomz_560m (0.298 + 0.163 + 0.201 + 0.247) / 4 = 0.227, the published 平均). The micro accuracy
  over all questions is reported too.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.evaluation.mmcu_data import McQuestion

_RUN = re.compile(r"[ABCD]{1,4}")
_DROPPED_BEFORE_EXTRACT = str.maketrans("", "", "、.,;，")

# MMCU's published zero-shot accuracies (README of Felixgithub2017/MMCU; the same table is in
# ../shared/data/README.md). Columns: 医疗, 法律, 心理, 教育, 平均 (= mean of the four).
PUBLISHED_ZERO_SHOT: dict[str, dict[str, float]] = {
    "bloomz_560m": {"医疗": 0.298, "法律": 0.163, "心理": 0.201, "教育": 0.247, "overall": 0.227},
    "bloomz_1b1": {"医疗": 0.213, "法律": 0.140, "心理": 0.187, "教育": 0.275, "overall": 0.204},
    "bloomz_3b": {"医疗": 0.374, "法律": 0.180, "心理": 0.319, "教育": 0.315, "overall": 0.297},
    "bloomz_7b1_mt": {"医疗": 0.364, "法律": 0.174, "心理": 0.346, "教育": 0.316, "overall": 0.300},
    "ChatGLM 6B": {"医疗": 0.338, "法律": 0.169, "心理": 0.288, "教育": 0.333, "overall": 0.282},
    "MOSS 16B": {"医疗": 0.234, "法律": 0.133, "心理": 0.211, "教育": 0.253, "overall": 0.208},
    "GPT-3.5-turbo": {"医疗": 0.512, "法律": 0.239, "心理": 0.447, "教育": 0.455, "overall": 0.413},
}
PUBLISHED_SOURCE = "Felixgithub2017/MMCU README (zero-shot table), arXiv 2304.12986"


class McScoringError(ValueError):
    """Bad predictions input; the message names the line or key."""


def normalize_answer(raw: object) -> str:
    """``'Ａ,b\\u3000'`` -> ``'AB'``: NFKC, upper case, keep only A-D, distinct, sorted."""
    text = unicodedata.normalize("NFKC", "" if raw is None else str(raw)).upper()
    return "".join(sorted({c for c in text if c in "ABCD"}))


def extract_answer(generated: str) -> str:
    """MMCU's reading of a reply: the first run of 1-4 distinct A-D letters, normalised ("" if none).

    Faithful to TestChatGLM.py: it strips 、.,;， first (so ``A、B`` reads as ``AB``), then
    ``re.findall(r"[ABCD]{1,4}")`` and keeps the first match without repeated letters. It does NOT fold
    full-width or lower case in the reply (the reference scripts do not)."""
    cleaned = generated.translate(_DROPPED_BEFORE_EXTRACT)
    for run in _RUN.findall(cleaned):
        if len(run) == len(set(run)):
            return "".join(sorted(run))
    return ""


def read_predictions(path: str | Path) -> dict[tuple[str, str, int], str]:
    """JSONL, one ``{"file", "sheet", "row", "answer"}`` a line -> {(file, sheet, row): raw answer}.
    ``file`` may be given as ``法律``, ``法律.xlsx`` or ``test/法律.xlsx``."""
    out: dict[tuple[str, str, int], str] = {}
    path = Path(path)
    if not path.is_file():
        raise McScoringError(f"{path}: no such predictions file")
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            key = (Path(str(rec["file"])).stem, str(rec.get("sheet") or "Sheet1"), int(rec["row"]))
            answer = str(rec["answer"] if rec["answer"] is not None else "")
        except json.JSONDecodeError as exc:
            raise McScoringError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise McScoringError(f"{path}:{n}: needs file, sheet, row (integer) and answer ({exc})") from exc
        if key in out:
            raise McScoringError(f"{path}:{n}: a second answer for {key}")
        out[key] = answer
    return out


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def score_predictions(questions: list[McQuestion], predictions: Mapping[tuple[str, str, int], str]) -> dict:
    """Accuracies per sub-file, per domain and overall, with question counts and the per-question verdicts.

    A question with no usable key (an empty answer cell; MMCU has a few) is left out and counted under
    ``counts["skipped_no_key"]``; a question without a prediction counts as wrong (``counts["missing"]``).
    Returns ``{"overall", "overall_micro", "domains", "subjects", "counts": {"overall", "domains", "subjects",
    "missing", "skipped_no_key", "multi_answer"}, "per_item": [{"file", "sheet", "row", "answer",
    "predicted", "correct"}]}``.
    """
    per_subject: dict[str, list[bool]] = {}
    subject_domain: dict[str, str] = {}
    per_item = []
    missing = skipped = multi = 0
    for q in questions:
        if not q.answer:
            skipped += 1
            continue
        raw = predictions.get(q.key)
        if raw is None:
            missing += 1
        predicted = normalize_answer(raw) if raw is not None else ""
        correct = bool(predicted) and predicted == q.answer
        multi += len(q.answer) > 1
        per_subject.setdefault(q.subject, []).append(correct)
        subject_domain[q.subject] = q.domain
        per_item.append(
            {
                "file": q.file,
                "sheet": q.sheet,
                "row": q.row,
                "answer": q.answer,
                "predicted": predicted,
                "correct": correct,
            }
        )
    if not per_item:
        raise McScoringError("no question with a usable answer key to score")
    subjects = {s: _mean(v) for s, v in per_subject.items()}
    domain_subjects: dict[str, list[str]] = {}
    for s, d in subject_domain.items():
        domain_subjects.setdefault(d, []).append(s)
    domains = {d: _mean(subjects[s] for s in ss) for d, ss in domain_subjects.items()}
    return {
        "overall": _mean(domains.values()),
        "overall_micro": _mean(item["correct"] for item in per_item),
        "domains": domains,
        "subjects": subjects,
        "counts": {
            "overall": len(per_item),
            "domains": {d: sum(len(per_subject[s]) for s in ss) for d, ss in domain_subjects.items()},
            "subjects": {s: len(v) for s, v in per_subject.items()},
            "missing": missing,
            "skipped_no_key": skipped,
            "multi_answer": multi,
        },
        "per_item": per_item,
    }


def leaderboard(ours: Mapping[str, dict], *, include_published: bool = True) -> list[dict]:
    """Rows ``{"model", "source", "医疗", "法律", "心理", "教育", "overall"}``, best overall first.

    ``ours`` maps a display name to a ``score_predictions`` result. Our rows say ``source: "ours"``; the
    published MMCU zero-shot rows say where they come from. Domains a run did not cover stay None."""
    rows = []
    for name, result in ours.items():
        row = {"model": name, "source": "ours", "overall": result["overall"]}
        row.update({d: result["domains"].get(d) for d in ("医疗", "法律", "心理", "教育")})
        rows.append(row)
    if include_published:
        for name, published in PUBLISHED_ZERO_SHOT.items():
            rows.append({"model": name, "source": PUBLISHED_SOURCE, **published})
    return sorted(rows, key=lambda r: -(r["overall"] or 0.0))
