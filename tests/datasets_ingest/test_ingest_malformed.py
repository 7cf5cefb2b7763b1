"""Malformed uploads: each gets its documented outcome, and nothing half-written remains."""

from __future__ import annotations

import codecs
import json
import os
import zipfile
from pathlib import Path

import pytest

from app.datasets.ingest import IngestError, IngestOptions, ingest_file, safe_filename, write_jsonl_atomic

ZH_PAIRS = [
    ("我最近总是睡不着，怎么办？", "可以试着固定作息时间，睡前一小时放下手机。"),
    ("考试前特别紧张怎么办？", "深呼吸，把复习计划拆成小块，一步一步来。"),
    ("和室友闹矛盾了。", "先冷静下来，找个合适的时间心平气和地聊一聊。"),
    ("工作压力很大。", "试着列出最要紧的三件事，其余的暂时放一放。"),
]


def _ingest(path: Path, name: str | None = None, **options):
    return ingest_file(
        path, original_filename=path.name if name is None else name, options=IngestOptions(**options)
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_gbk_csv_with_crlf(tmp_path: Path) -> None:
    lines = ["问题,回答"] + [f"{q},{a}" for q, a in ZH_PAIRS]
    path = tmp_path / "export.csv"
    path.write_bytes("\r\n".join(lines).encode("gbk"))
    rows, report = _ingest(path)
    assert report.encoding == "GBK" and report.file_type == "csv" and report.format == "prompt_response"
    assert [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in rows] == ZH_PAIRS
    assert not any("\r" in m["content"] for r in rows for m in r["messages"])


def test_gb18030_only_characters_are_reported_as_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "rare.csv"
    # U+20000 (an extension-B character) exists in GB18030 but not in GBK.
    path.write_bytes("prompt,response\n\U00020000是什么字？,这是一个扩展B区的汉字。\n".encode("gb18030"))
    rows, report = _ingest(path)
    assert report.encoding == "GB18030"
    assert rows[0]["messages"][0]["content"].startswith("\U00020000")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le"])
def test_utf16_json(tmp_path: Path, codec: str) -> None:
    data = [{"instruction": q, "input": "", "output": a} for q, a in ZH_PAIRS]
    path = tmp_path / "u16.json"
    path.write_bytes(json.dumps(data, ensure_ascii=False).encode(codec))
    rows, report = _ingest(path)
    assert report.encoding.startswith("UTF-16") and report.format == "alpaca" and len(rows) == len(ZH_PAIRS)


def _bom_jsonl_with_three_broken_lines(tmp_path: Path) -> tuple[Path, list[int]]:
    lines, broken = [], []
    for i in range(12):
        q, a = ZH_PAIRS[i % 4]
        if i in (2, 6, 9):
            lines.append('{"messages": [{"role": "user", "content": "' + q)  # cut mid-string
            broken.append(i + 1)
        else:
            row = {"messages": [{"role": "user", "content": f"{q}#{i}"}, {"role": "assistant", "content": a}]}
            lines.append(json.dumps(row, ensure_ascii=False))
    path = tmp_path / "broken.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + "\r\n".join(lines).encode("utf-8"))
    return path, broken


def test_bom_jsonl_with_broken_lines_drop(tmp_path: Path) -> None:
    path, broken = _bom_jsonl_with_three_broken_lines(tmp_path)
    rows, report = _ingest(path)
    assert report.encoding == "UTF-8 with BOM" and report.file_type == "jsonl"
    assert report.num_source_rows == 12 and report.num_rows == 9 and report.num_invalid == 3
    assert [p.row for p in report.problems] == broken
    assert all("invalid JSON" in p.reason for p in report.problems)


def test_bom_jsonl_with_broken_lines_reject(tmp_path: Path) -> None:
    path, broken = _bom_jsonl_with_three_broken_lines(tmp_path)
    with pytest.raises(IngestError, match="3 rows have problems, first at row 3") as info:
        _ingest(path, on_invalid="reject")
    assert [p.row for p in info.value.problems] == broken


def test_planted_exact_and_near_duplicates(tmp_path: Path, write_jsonl) -> None:
    base = "我今年17岁, 读高三(理科), 最近总是失眠, 白天上课注意力不集中, 成绩也下滑了, 父母对我很失望。"
    answer = "先别急着责怪自己。失眠和压力常常互相加重，我们可以从作息、放松练习和与父母沟通三方面入手。"
    rows = [{"instruction": q, "output": a} for q, a in ZH_PAIRS]
    rows.append({"instruction": base, "output": answer})  # index 4
    # Exact after normalisation: full-width digits and punctuation, doubled and trailing (ideographic) spaces.
    variant = base.replace("17", "１７").replace(", ", "，  ").replace("(", "（").replace(")", "）")
    rows.append({"instruction": variant + "\u3000", "output": " " + answer})  # 5
    rows.append({"instruction": base.replace("高三", "高二"), "output": answer})  # 6: one character changed
    path = write_jsonl("dups.jsonl", rows)
    kept, report = _ingest(path)
    dup = report.duplicates
    assert (dup["exact"], dup["near"]) == (1, 1)
    assert dup["exact_rows"] == [5] and dup["near_rows"] == [6]
    assert dup["exact_ids"] == ["row-6"] and dup["near_ids"] == ["row-7"]  # ids: 1-based source lines
    kinds = {e["kind"]: e["rows"] for e in dup["examples"]}
    assert kinds == {"exact": [4, 5], "near": [4, 6]}
    assert len(kept) == len(rows)  # "report" drops nothing
    kept_exact, report_exact = _ingest(path, dedup="drop_exact")
    assert len(kept_exact) == len(rows) - 1 and report_exact.num_duplicates_dropped == 1
    kept_all, _ = _ingest(path, dedup="drop_all")
    assert len(kept_all) == len(rows) - 2
    strict, _ = _ingest(path, near_dup_threshold=0.99)  # the near copy is under 0.99 similar
    assert _ingest(path, near_dup_threshold=0.99)[1].duplicates["near"] == 0 and len(strict) == len(rows)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.jsonl", b"", "empty"),
        ("blank.json", b" \r\n\t\n", "only whitespace"),
        ("binary.json", bytes(range(256)) * 8, "binary"),
        ("controls.csv", bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15]) * 50, "binary"),
        ("truncated.json", b'[{"instruction": "a", "output": "b"}, {"instruction": "c", "outp', "truncated"),
        ("data.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xls"),
        ("data.json.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 20, "gzip"),
        ("odd.json", b'"just a string"', "not JSON"),
        ("scalars.json", b"[1, 2, 3]", "no valid rows"),
        ("cols.csv", "名字,年龄\n张三,3\n".encode(), "could not recognise the row format"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    before = _snapshot(tmp_path)
    with pytest.raises(IngestError, match=message):
        _ingest(path)
    assert _snapshot(tmp_path) == before  # nothing written, nothing changed


def test_zip_archive_is_refused(tmp_path: Path, write_jsonl) -> None:
    inner = write_jsonl("inner.jsonl", [{"prompt": "q", "response": "a"}])
    path = tmp_path / "upload.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(inner, "inner.jsonl")
    with pytest.raises(IngestError, match="zip archives are not supported"):
        _ingest(path)


def test_over_the_size_limit(tmp_path: Path, write_jsonl) -> None:
    path = write_jsonl("big.jsonl", [{"prompt": "问" * 100, "response": "答" * 100}] * 50)
    with pytest.raises(IngestError, match="over the limit") as info:
        _ingest(path, max_bytes=path.stat().st_size - 1)
    assert info.value.field == "max_bytes"
    rows, _ = _ingest(path, max_bytes=path.stat().st_size)
    assert len(rows) == 50


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "a/b.json", "a\\b.json", "/abs.json", "x\x00.json", "", " ", "..", "C:x.json"],
)
def test_names_with_path_parts_are_refused(tmp_path: Path, write_jsonl, name: str) -> None:
    path = write_jsonl("ok.jsonl", [{"prompt": "q", "response": "a"}])
    with pytest.raises(IngestError) as info:
        safe_filename(name)
    assert info.value.field == "filename"
    with pytest.raises(IngestError):
        _ingest(path, name=name)


@pytest.mark.parametrize("name", ["data.jsonl", "训练数据 v2.xlsx", "a..b.csv"])
def test_plain_names_pass(name: str) -> None:
    assert safe_filename(name) == name


def test_atomic_write_leaves_old_file_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "train.jsonl"
    good = [
        {
            "id": "row-1",
            "messages": [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}],
        }
    ]
    write_jsonl_atomic(good, target)
    old = target.read_bytes()
    bad = good + [{"id": "row-2", "messages": {1, 2}}]  # a set is not JSON: fails mid-file
    with pytest.raises(TypeError):
        write_jsonl_atomic(bad, target)
    assert target.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["train.jsonl"]  # no temporary file left behind
    fresh = tmp_path / "val.jsonl"
    with pytest.raises(TypeError):
        write_jsonl_atomic(bad, fresh)
    assert not fresh.exists() and sorted(os.listdir(tmp_path)) == ["train.jsonl"]


def test_big5_is_not_mistaken_for_gbk(tmp_path: Path) -> None:
    pairs = [("我最近總是睡不著，怎麼辦？", "可以試著固定作息時間，睡前一小時放下手機。")]
    path = tmp_path / "trad.csv"
    path.write_bytes(("prompt,response\n" + "".join(f"{q},{a}\n" for q, a in pairs)).encode("big5"))
    rows, report = _ingest(path)
    assert report.encoding == "BIG5"
    assert [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in rows] == pairs
