"""Messy and hostile uploads get the documented outcome: a report of bad rows and duplicates, or a clear
4xx that leaves no file and no row behind."""

from __future__ import annotations

import io
import json
import random
import zipfile

from fastapi.testclient import TestClient

from tests.datasets_api.conftest import stored_files, upload

TOPICS = ["失眠", "焦虑", "和家人吵架", "不想上学", "担心考试", "工作压力大", "感到孤独", "没有胃口"]
QUESTIONS = [f"第{i}个问题：我最近总是{topic}，应该怎么办？" for i, topic in enumerate(TOPICS * 3)]


CJK_START, CJK_SPAN = 0x4E00, 3000  # the first 3,000 CJK unified ideographs


def _text(seed: int, size: int = 90) -> str:
    rng = random.Random(seed)
    return "".join(chr(CJK_START + rng.randrange(CJK_SPAN)) for _ in range(size))


def _conversation(i: int) -> dict:
    answer = _text(1000 + i)
    return {"messages": [{"role": "user", "content": QUESTIONS[i]}, {"role": "assistant", "content": answer}]}


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def test_gbk_csv_with_crlf_is_detected_and_decoded(client: TestClient) -> None:
    lines = ["问题,回答"] + [
        f"{q},这是第{i}条回答，请先深呼吸，慢慢来。" for i, q in enumerate(QUESTIONS[:10])
    ]
    content = "\r\n".join(lines).encode("gbk")
    response = upload(client, "export.csv", content)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["format"] == "prompt_response" and body["num_rows"] == 10 and body["num_invalid"] == 0
    assert body["encoding"].lower().replace("-", "") in ("gbk", "gb18030", "gb2312")
    rows = client.get(f"/api/v1/datasets/{body['id']}/rows", params={"q": "失眠"}).json()
    assert rows["total"] == sum("失眠" in q for q in QUESTIONS[:10]) and rows["total"] > 0
    assert rows["rows"][0]["messages"][0]["content"].endswith("\r") is False


def test_bom_jsonl_with_three_broken_lines_drop_or_reject(client: TestClient, studio) -> None:
    good = [_conversation(i) for i in range(10)]
    lines = [json.dumps(r, ensure_ascii=False) for r in good]
    lines.insert(3, '{"messages": [{"role": "user", "content": "截断的')  # truncated JSON (line 4)
    lines.insert(6, json.dumps({"messages": [{"role": "user", "content": "只有问题"}]}, ensure_ascii=False))
    empty_answer = {
        "messages": [{"role": "user", "content": "空回答"}, {"role": "assistant", "content": "  "}]
    }
    lines.insert(9, json.dumps(empty_answer, ensure_ascii=False))
    content = b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8")
    dropped = upload(client, "bom.jsonl", content, on_invalid="drop")
    assert dropped.status_code == 201, dropped.text
    body = dropped.json()
    assert body["num_rows"] == 10 and body["num_invalid"] == 3
    assert sorted(p["row"] for p in body["problems"]) == [4, 7, 10]
    assert all(p["field"] and p["reason"] for p in body["problems"])
    assert body["encoding"] == "UTF-8 with BOM"
    before_rows, before_files = client.get("/api/v1/datasets").json(), stored_files(studio.data_dir)
    rejected = upload(client, "bom.jsonl", content, on_invalid="reject")
    assert rejected.status_code == 422, rejected.text
    assert "3 rows have problems" in rejected.json()["detail"]
    assert sorted(p["row"] for p in rejected.json()["problems"]) == [4, 7, 10]
    assert client.get("/api/v1/datasets").json() == before_rows
    assert stored_files(studio.data_dir) == before_files


def test_planted_exact_and_near_duplicates_are_reported_then_dropped_on_request(client: TestClient) -> None:
    rows = [_conversation(i) for i in range(20)]
    near = json.loads(json.dumps(rows[5]))
    text = near["messages"][1]["content"]
    near["messages"][1]["content"] = text[:40] + "改" + text[41:]  # one character changed: Jaccard ~0.94
    planted = rows + [rows[2], rows[11], near]
    body = upload(client, "dups.jsonl", _jsonl(planted)).json()
    assert body["num_rows"] == 23
    dup = body["duplicates"]
    assert dup["exact"] == 2 and dup["near"] == 1, dup
    assert sorted(dup["exact_ids"]) == ["row-21", "row-22"] and dup["near_ids"] == ["row-23"]
    kinds = {(e["kind"], tuple(e["ids"])) for e in dup["examples"]}
    assert ("exact", ("row-3", "row-21")) in kinds and ("near", ("row-6", "row-23")) in kinds
    cleaned = upload(client, "dups.jsonl", _jsonl(planted), dedup="drop_all").json()
    assert cleaned["num_rows"] == 20
    strict = upload(client, "dups.jsonl", _jsonl(planted), dedup="drop_exact").json()
    assert strict["num_rows"] == 21


def test_messy_spreadsheet_needs_and_takes_a_column_mapping(client: TestClient) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "客户的话", "咨询师回复", "备注"])
    for i, q in enumerate(QUESTIONS[:8]):
        sheet.append([i + 1, q, f"第{i}条：先照顾好自己的睡眠和饮食。", "已审核" if i % 2 else None])
    buffer = io.BytesIO()
    book.save(buffer)
    unmapped = upload(client, "messy.xlsx", buffer.getvalue())
    assert unmapped.status_code == 422, unmapped.text
    assert "format" in unmapped.json()["detail"].lower() or "column" in unmapped.json()["detail"].lower()
    mapping = json.dumps({"prompt": "客户的话", "response": "咨询师回复"}, ensure_ascii=False)
    mapped = upload(client, "messy.xlsx", buffer.getvalue(), format="prompt_response", mapping=mapping)
    assert mapped.status_code == 201, mapped.text
    assert mapped.json()["num_rows"] == 8 and mapped.json()["format"] == "prompt_response"
    bad = upload(client, "messy.xlsx", buffer.getvalue(), mapping="{not json")
    assert bad.status_code == 422 and bad.json()["field"] == "mapping"


def test_hostile_files_get_a_4xx_and_leave_nothing(client: TestClient, studio, monkeypatch) -> None:
    from app.settings import reset_settings_cache

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data.jsonl", _jsonl([_conversation(0)]))
    before_rows, before_files = client.get("/api/v1/datasets").json(), stored_files(studio.data_dir)
    cases = [
        ("../../etc/passwd", _jsonl([_conversation(0)]), 422),
        ("empty.jsonl", b"", 422),
        ("binary.jsonl", bytes(range(256)) * 8, 422),
        ("data.zip", archive.getvalue(), 422),
        ("data.jsonl", archive.getvalue(), 422),  # a zip under a JSONL name
        ("truncated.json", b'[{"instruction": "a", "output": "b"}, {"instr', 422),
        ("ok.jsonl", _jsonl([_conversation(0)]), 422),  # val_set_size >= rows: a clear split error
    ]
    for name, content, code in cases:
        extra = {"val_set_size": 5} if name == "ok.jsonl" else {}
        response = upload(client, name, content, **extra)
        assert response.status_code == code, (name, response.text)
        assert response.json()["detail"], name
    monkeypatch.setenv("FTSTUDIO_MAX_UPLOAD_BYTES", "2000")
    reset_settings_cache()
    try:
        big = _jsonl([_conversation(i % 20) for i in range(40)])
        response = upload(client, "big.jsonl", big)
        assert response.status_code == 413 and "limit" in response.json()["detail"]
    finally:
        monkeypatch.delenv("FTSTUDIO_MAX_UPLOAD_BYTES")
        reset_settings_cache()
    assert client.get("/api/v1/datasets").json() == before_rows
    assert stored_files(studio.data_dir) == before_files
