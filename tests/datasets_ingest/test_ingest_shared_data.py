"""Each real public data set ingests with the right format and the row/turn counts of its raw file.

Expected counts are computed here from the raw JSON with plain loops, independently of the engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.datasets.ingest import IngestOptions, ingest_file


def _ingest(path: Path):
    return ingest_file(path, original_filename=path.name, options=IngestOptions())


def _turns(rows: list[dict]) -> list[int]:
    return [sum(m["role"] != "system" for m in r["messages"]) for r in rows]


def _assert_contract(rows: list[dict]) -> None:
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        body = roles[1:] if roles[0] == "system" else roles
        assert body[0] == "user" and body[-1] == "assistant", row["id"]
        assert all(a != b for a, b in zip(body, body[1:], strict=False)), row["id"]
        assert all(m["content"].strip() for m in row["messages"]), row["id"]
    assert len({r["id"] for r in rows}) == len(rows)


def test_cpsycoun_dialogues_drop_trailing_user_turn(shared_data: Path) -> None:
    path = shared_data / "cpsycoun" / "dialogues.jsonl"
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    expected = []
    ending_on_user = 0
    for r in raw:
        n = len(r["messages"])
        if r["messages"][-1]["role"] == "user":
            n -= 1
            ending_on_user += 1
        expected.append(n)
    rows, report = _ingest(path)
    assert report.format == "messages" and report.file_type == "jsonl" and report.encoding == "UTF-8"
    assert report.num_source_rows == len(raw) == 2571
    assert report.num_rows == len(raw) and report.num_invalid == 0
    assert _turns(rows) == expected
    assert report.stats["turns"]["total"] == sum(expected)
    assert ending_on_user > 0 and str(ending_on_user) in report.notes[0]
    assert [r["id"] for r in rows] == [r["id"] for r in raw]  # the source's own ids are kept
    _assert_contract(rows)


def test_emollm_xtuner_conversations(shared_data: Path) -> None:
    path = shared_data / "emollm" / "data.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    rows, report = _ingest(path)
    assert report.format == "xtuner" and report.file_type == "json"
    assert report.num_rows == len(raw) == 1596 and report.num_invalid == 0
    assert _turns(rows) == [2 * len(r["conversation"]) for r in raw]
    with_system = sum(1 for r in raw if r["conversation"][0].get("system"))
    assert report.stats["rows_with_system"] == with_system
    assert rows[0]["messages"][0] == {"role": "system", "content": raw[0]["conversation"][0]["system"]}
    _assert_contract(rows)


@pytest.mark.parametrize(("name", "count"), [("alpaca_zh_demo.json", 1000), ("identity.json", 91)])
def test_llamafactory_alpaca(shared_data: Path, name: str, count: int) -> None:
    path = shared_data / "llamafactory" / name
    raw = json.loads(path.read_text(encoding="utf-8"))
    rows, report = _ingest(path)
    assert report.format == "alpaca"
    assert report.num_rows == len(raw) == count
    assert _turns(rows) == [2 + 2 * len(r.get("history") or []) for r in raw]
    for r, row in zip(raw, rows, strict=True):
        assert r["instruction"] in row["messages"][-2]["content"]
        if r["input"]:
            assert row["messages"][-2]["content"].endswith(r["input"])
        assert row["messages"][-1]["content"] == r["output"]
    _assert_contract(rows)


def test_llamafactory_messages_with_typed_parts(shared_data: Path) -> None:
    path = shared_data / "llamafactory" / "v1_sft_demo.jsonl"
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows, report = _ingest(path)
    assert report.format == "messages" and report.num_rows == len(raw) == 500
    assert _turns(rows) == [len(r["messages"]) for r in raw]
    first = raw[0]["messages"][1]["content"]
    assert rows[0]["messages"][1]["content"] == "".join(part["value"] for part in first)
    assert not any("loss_weight" in note for note in report.notes)  # all weights are the default
    _assert_contract(rows)


def test_llamafactory_dpo_uses_chosen_answer(shared_data: Path) -> None:
    path = shared_data / "llamafactory" / "dpo_zh_demo.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    rows, report = _ingest(path)
    assert report.format == "sharegpt" and report.num_rows == len(raw) == 300
    assert _turns(rows) == [sum(t["from"] != "system" for t in r["conversations"]) + 1 for r in raw]
    assert all(
        row["messages"][-1]["content"] == r["chosen"]["value"] for r, row in zip(raw, rows, strict=True)
    )
    assert any("preference" in note for note in report.notes)
    _assert_contract(rows)


def test_llamafactory_tool_calls_become_turns(shared_data: Path) -> None:
    path = shared_data / "llamafactory" / "glaive_toolcall_zh_demo.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    rows, report = _ingest(path)
    assert report.format == "sharegpt" and report.num_rows == len(raw) == 300
    assert _turns(rows) == [len(r["conversations"]) for r in raw]
    with_tools = sum(
        any(t["from"] in ("function_call", "observation") for t in r["conversations"]) for r in raw
    )
    assert str(with_tools) in next(note for note in report.notes if "tool" in note)
    for r, row in zip(raw, rows, strict=True):
        assert row["messages"][0]["role"] == "system" and r["tools"] in row["messages"][0]["content"]
    _assert_contract(rows)
