"""The MMCU reader and scorer on the shared MMCU-layout sample (its README gives the counts and the traps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.evaluation.mmcu_data import McDataError, bare_subject, read_flat, read_mmcu_dir, read_questions
from worker.evaluation.mmcu_scoring import (
    PUBLISHED_ZERO_SHOT,
    McScoringError,
    extract_answer,
    leaderboard,
    normalize_answer,
    read_predictions,
    score_predictions,
)

# From ../shared/data/mmcu-layout-sample/README.md, "Counts".
EXPECTED_COUNTS = {
    ("心理", "Sheet1"): 24,
    ("法律", "Sheet1"): 24,
    ("医疗", "临床医学20题"): 20,
    ("医疗", "传染病学20题"): 20,
    ("医疗", "解剖学20题"): 20,
    ("医疗", "医学三基20题"): 20,
    **{(f"教育_{s}", "Sheet1"): 24 for s in ("语文", "数学", "物理", "化学", "政治", "历史", "地理", "生物")},
}
# README "Dirty answer cells": (file, sheet, row) -> the letters the dirty cell means.
DIRTY = {
    ("心理", "Sheet1", 6): "AB",
    ("心理", "Sheet1", 8): "A",
    ("法律", "Sheet1", 0): "A",
    ("法律", "Sheet1", 1): "BC",
    ("法律", "Sheet1", 9): "ABC",
    ("法律", "Sheet1", 16): "ABD",
    ("法律", "Sheet1", 19): "ABCD",
    ("医疗", "临床医学20题", 2): "AC",
    ("医疗", "传染病学20题", 18): "D",
    ("医疗", "解剖学20题", 13): "A",
    ("医疗", "医学三基20题", 13): "D",
    ("教育_语文", "Sheet1", 16): "B",
    ("教育_数学", "Sheet1", 18): "A",
    ("教育_历史", "Sheet1", 22): "A",
    ("教育_地理", "Sheet1", 22): "C",
    ("教育_生物", "Sheet1", 12): "C",
}


def test_counts_per_file_and_sheet(mmcu_sample: Path) -> None:
    questions = read_mmcu_dir(mmcu_sample)
    counts: dict[tuple[str, str], int] = {}
    for q in questions:
        counts[(q.file, q.sheet)] = counts.get((q.file, q.sheet), 0) + 1
    assert counts == EXPECTED_COUNTS
    assert sum(len(q.answer) > 1 for q in questions) == 24
    dev = read_mmcu_dir(mmcu_sample, "dev")
    assert len(dev) == 55 and sum(len(q.answer) > 1 for q in dev) == 6


def test_dirty_cells_normalised(mmcu_sample: Path) -> None:
    by_key = {q.key: q for q in read_mmcu_dir(mmcu_sample)}
    for key, letters in DIRTY.items():
        q = by_key[key]
        assert q.answer == letters, key
        assert q.answer_raw != letters, f"{key} is listed as dirty but reads clean: {q.answer_raw!r}"
    assert by_key[("法律", "Sheet1", 0)].answer_raw == "A\u3000"
    assert all(q.answer for q in by_key.values())


def test_domains_and_subjects(mmcu_sample: Path) -> None:
    questions, dev = read_questions(mmcu_sample)
    domains = {q.domain for q in questions}
    assert domains == {"医疗", "法律", "心理", "教育"}
    assert {q.subject for q in questions if q.domain == "医疗"} == {
        "临床医学20题",
        "传染病学20题",
        "解剖学20题",
        "医学三基20题",
    }
    assert bare_subject("临床医学101题") == "临床医学"
    assert set(dev) == {q.file for q in questions}


def test_multi_answer_and_dirty_cells_scored_right(mmcu_sample: Path) -> None:
    questions = read_mmcu_dir(mmcu_sample)
    # A predictor that answers with the raw (dirty) cell text, written the dirty ways, must score 100 %.
    dirty_forms = {"AB": "b, a", "ABD": "ＡＢＤ", "A": "a\u3000"}
    perfect = {q.key: dirty_forms.get(q.answer, q.answer) for q in questions}
    result = score_predictions(questions, perfect)
    assert result["overall"] == 1.0 and result["counts"]["overall"] == 320
    # A subset of a multi-answer key is wrong (exact set match), a superset too.
    multi = [q for q in questions if len(q.answer) > 1]
    partial = dict(perfect)
    partial[multi[0].key] = multi[0].answer[0]
    partial[multi[1].key] = "ABCD" if multi[1].answer != "ABCD" else "A"
    result = score_predictions(questions, partial)
    assert result["counts"]["multi_answer"] == 24
    wrong = [i for i in result["per_item"] if not i["correct"]]
    assert {(i["file"], i["sheet"], i["row"]) for i in wrong} == {multi[0].key, multi[1].key}


def test_aggregation_is_mmcu_unweighted(mmcu_sample: Path) -> None:
    questions = read_mmcu_dir(mmcu_sample)
    # Right only on 临床医学 (1 of the 4 medical sheets) and on all of 心理.
    preds = {q.key: q.answer for q in questions if q.subject in ("临床医学20题", "心理")}
    result = score_predictions(questions, preds)
    assert result["subjects"]["临床医学20题"] == 1.0 and result["subjects"]["传染病学20题"] == 0.0
    assert result["domains"]["医疗"] == 0.25  # unweighted mean of the four sheets
    assert result["domains"]["心理"] == 1.0
    assert result["overall"] == pytest.approx((0.25 + 1.0 + 0 + 0) / 4)
    assert result["overall_micro"] == pytest.approx(44 / 320)
    assert result["counts"]["missing"] == 320 - 44


def test_published_rows_average_is_mean_of_domains() -> None:
    for name, row in PUBLISHED_ZERO_SHOT.items():
        mean = sum(row[d] for d in ("医疗", "法律", "心理", "教育")) / 4
        assert abs(mean - row["overall"]) < 0.0015, name
    board = leaderboard({"ours": {"overall": 0.5, "domains": {"医疗": 0.5}}})
    assert board[0]["model"] == "ours" and len(board) == 1 + len(PUBLISHED_ZERO_SHOT)
    assert board[-1]["overall"] <= board[1]["overall"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A", "A"),
        ("ＡＢＤ", "ABD"),
        ("D\u3000", "D"),
        ("A,B,D", "ABD"),
        ("abcd", "ABCD"),
        ("BA", "AB"),
        ("", ""),
    ],
)
def test_normalize_answer(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B", "B"),
        ("正确答案是：A、C", "AC"),
        ("AAB，然后是D", "D"),  # a run with repeated letters is skipped (MMCU's find_valid_substrings)
        ("答案：BD。解释：A不对", "BD"),
        ("我不知道", ""),
        ("abc", ""),  # the reference scripts do not fold lower case in replies
    ],
)
def test_extract_answer_mmcu_rule(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


def test_predictions_file_and_errors(tmp_path: Path, mmcu_sample: Path) -> None:
    questions = read_mmcu_dir(mmcu_sample)
    path = tmp_path / "p.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"file": f"test/{q.file}.xlsx", "sheet": q.sheet, "row": q.row, "answer": q.answer})
            for q in questions[:10]
        ),
        encoding="utf-8",
    )
    preds = read_predictions(path)
    assert score_predictions(questions, preds)["counts"]["missing"] == 310
    path.write_text('{"file": "法律", "sheet": "Sheet1", "answer": "A"}\n', encoding="utf-8")
    with pytest.raises(McScoringError, match=r"p.jsonl:1: needs file, sheet, row"):
        read_predictions(path)


def test_flat_csv_and_jsonl(tmp_path: Path) -> None:
    csv_path = tmp_path / "domain.csv"
    csv_path.write_text(
        'question,A,B,C,D,answer\n1+1=?,1,2,3,4,B\n哪些是偶数？,2,3,4,5,"A,C"\n', encoding="utf-8"
    )
    qs = read_flat(csv_path)
    assert [q.answer for q in qs] == ["B", "AC"] and qs[0].file == "domain"
    jl = tmp_path / "d.jsonl"
    jl.write_text(
        json.dumps({"question": "q", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "ｄ"}) + "\n"
    )
    assert read_flat(jl)[0].answer == "D"
    jl.write_text(json.dumps({"question": "q", "A": "a", "answer": "A"}) + "\n")
    with pytest.raises(McDataError, match="lacks B, C, D"):
        read_flat(jl)
    with pytest.raises(McDataError, match="no 'test/' folder"):
        read_mmcu_dir(tmp_path)
