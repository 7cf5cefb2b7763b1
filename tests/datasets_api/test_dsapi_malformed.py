"""Messy and hostile uploads get the documented outcome: a report of bad rows and duplicates, or a clear
4xx that leaves no file and no row behind."""

from __future__ import annotations

import io
import json
import random
import zipfile

from fastapi.testclient import TestClient

from tests.datasets_api.conftest import stored_files, upload

QUESTIONS = [f"第{i}个问题：我最近总是{topic}，应该怎么办？" for i, topic in enumerate(
    ["失眠", "焦虑", "和家人吵架", "不想上学", "担心考试", "工作压力大", "感到孤独", "没有胃口"] * 3)]  # fmt: skip


COMMON = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"


def _text(seed: int, size: int = 90) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(COMMON) for _ in range(size))


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
    lines.insert(9, json.dumps({"messages": [{"role": "user", "content": "空回答"},
                                             {"role": "assistant", "content": "  "}]}, ensure_ascii=False))  # fmt: skip
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
