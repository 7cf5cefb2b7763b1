"""The shipped demo dataset: contract shape, Chinese, varied, no near-duplicates, reproducible."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from app.demo import DEMO_DATASET_NAME, DEMO_DATASET_PATH, DEMO_MODEL_NAME
from app.demo.make_demo_data import build_rows, char_trigrams, jaccard, main, render_jsonl, row_text

_CJK = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[A-Za-z\u4e00-\u9fff]")


def _exchanges(row: dict) -> int:
    return sum(m["role"] == "assistant" for m in row["messages"])


def test_constants_point_at_the_shipped_file() -> None:
    assert DEMO_DATASET_PATH.is_file(), DEMO_DATASET_PATH
    assert DEMO_DATASET_PATH.parent == Path(__file__).resolve().parents[2] / "app" / "demo"
    assert DEMO_DATASET_NAME == "counselling-demo (zh)"
    assert DEMO_MODEL_NAME == "SmolLM2-135M-Instruct"


def test_row_count_and_unique_ids(demo_rows: list[dict]) -> None:
    assert 300 <= len(demo_rows) <= 400
    ids = [row["id"] for row in demo_rows]
    assert len(set(ids)) == len(ids)
    assert all(set(row) == {"id", "messages"} for row in demo_rows)


def test_roles_follow_the_contract(demo_rows: list[dict]) -> None:
    for row in demo_rows:
        roles = [m["role"] for m in row["messages"]]
        body = roles[1:] if roles[0] == "system" else roles
        assert "system" not in body, row["id"]
        assert body[0::2] == ["user"] * len(body[0::2]), row["id"]
        assert body[1::2] == ["assistant"] * len(body[1::2]), row["id"]
        assert body[-1] == "assistant", row["id"]
        assert all(set(m) == {"role", "content"} and m["content"].strip() for m in row["messages"]), row["id"]


def test_single_and_multi_turn_mix(demo_rows: list[dict]) -> None:
    counts = Counter(_exchanges(row) for row in demo_rows)
    assert set(counts) <= {1, 2, 3, 4}
    assert counts[1] >= 50, counts
    assert sum(counts[n] for n in (2, 3, 4)) >= 150, counts
    assert all(counts[n] >= 30 for n in (2, 3, 4)), counts


def test_text_is_chinese_and_answers_are_short(demo_rows: list[dict]) -> None:
    for row in demo_rows:
        for m in row["messages"]:
            letters = _WORD.findall(m["content"])
            assert letters and len(_CJK.findall(m["content"])) / len(letters) > 0.9, (row["id"], m["content"])
            # No template placeholder may survive composition.
            assert "{" not in m["content"] and "|" not in m["content"], (row["id"], m["content"])
            if m["role"] == "assistant":
                sentences = [s for s in re.split(r"[。！？]", m["content"]) if s.strip()]
                assert 1 <= len(sentences) <= 4, (row["id"], m["content"])


def test_topics_are_varied(demo_rows: list[dict]) -> None:
    topics = Counter(row["id"].split("-", 2)[2] for row in demo_rows)
    assert len(topics) >= 10, topics
    assert max(topics.values()) <= 2 * min(topics.values()), topics
    openings = Counter(
        next(m["content"] for m in row["messages"] if m["role"] == "user") for row in demo_rows
    )
    assert len(openings) >= 80, len(openings)


def test_no_near_duplicates(demo_rows: list[dict]) -> None:
    grams = [char_trigrams(row_text(row)) for row in demo_rows]
    worst = max(
        ((jaccard(a, b), i, j) for (i, a), (j, b) in itertools.combinations(enumerate(grams), 2)),
        key=lambda t: t[0],
    )
    assert worst[0] < 0.8, (worst, demo_rows[worst[1]]["id"], demo_rows[worst[2]]["id"])


def test_jaccard_helper_sees_a_near_duplicate(demo_rows: list[dict]) -> None:
    # The check above must be able to fail: one changed character keeps a row a near-duplicate of itself.
    text = row_text(demo_rows[0])
    assert jaccard(char_trigrams(text), char_trigrams(text[:-1] + "。")) > 0.8


def test_file_matches_the_generator(demo_rows: list[dict]) -> None:
    rebuilt = build_rows()
    assert rebuilt == demo_rows, "counselling_demo.jsonl is stale: run python -m app.demo.make_demo_data"
    assert render_jsonl(rebuilt) == DEMO_DATASET_PATH.read_text(encoding="utf-8")


def test_check_flag_rejects_an_edited_copy(tmp_path: Path) -> None:
    copy = tmp_path / "demo.jsonl"
    copy.write_text(DEMO_DATASET_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["--out", str(copy), "--check"]) == 0
    lines = copy.read_text(encoding="utf-8").splitlines(keepends=True)
    copy.write_text("".join(lines[:-1]), encoding="utf-8")
    assert main(["--out", str(copy), "--check"]) == 1


def test_passes_the_ingest_quality_gate() -> None:
    from app.datasets.ingest import IngestOptions, ingest_file

    rows, report = ingest_file(
        DEMO_DATASET_PATH,
        original_filename=DEMO_DATASET_PATH.name,
        options=IngestOptions(on_invalid="reject"),
    )
    assert report.format == "messages"
    assert report.num_rows == len(rows) == report.num_source_rows
    assert report.num_invalid == 0
    assert not report.duplicates["exact_rows"] and not report.duplicates["near_rows"], report.duplicates


def test_not_copied_from_the_shared_sets(demo_rows: list[dict], shared_data: Path) -> None:
    ours = {m["content"] for row in demo_rows for m in row["messages"] if m["role"] != "system"}
    theirs: set[str] = set()
    with (shared_data / "cpsycoun" / "dialogues.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            theirs.update(m["content"].strip() for m in json.loads(line)["messages"])
    emollm = json.loads((shared_data / "emollm" / "data.json").read_text(encoding="utf-8"))
    for item in emollm:
        for turn in item["conversation"]:
            theirs.update(str(turn.get(k, "")).strip() for k in ("input", "output"))
    assert len(theirs) > 1000, "the shared sets did not load"
    assert not ours & theirs, sorted(ours & theirs)[:5]


@pytest.mark.parametrize("ask_topic", ["low_mood"])
def test_self_harm_answer_gets_the_safety_suggestion(demo_rows: list[dict], ask_topic: str) -> None:
    mentioned = 0
    for row in demo_rows:
        msgs = row["messages"]
        for k, m in enumerate(msgs):
            if m["role"] == "user" and "消失就好了" in m["content"]:
                mentioned += 1
                assert "热线" in msgs[k + 1]["content"] or "急救" in msgs[k + 1]["content"], row["id"]
    assert mentioned > 0, f"no {ask_topic} row reaches the self-harm question; the check is vacuous"
