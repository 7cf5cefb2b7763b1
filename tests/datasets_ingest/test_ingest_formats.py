"""File types, format detection, the user's column mapping, and row-level validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.datasets.ingest import IngestError, IngestOptions, ingest_file


def _ingest(path: Path, **options):
    return ingest_file(path, original_filename=path.name, options=IngestOptions(**options))


def _pairs(rows: list[dict]) -> list[tuple[str, str]]:
    return [(r["messages"][-2]["content"], r["messages"][-1]["content"]) for r in rows]


def test_xlsx_prompt_response_columns_with_numbers(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["问题", "回答", "备注"])
    ws.append(["一加一等于几？", 2, "numbers come back as text"])
    ws.append([None, None, None])  # an empty row in the middle is skipped
    ws.append(["圆周率约等于多少？", 3.14, None])
    ws.append(["空答案", None, None])
    wb.create_sheet("说明").append(["这张表不是数据"])
    path = tmp_path / "qa.xlsx"
    wb.save(path)
    rows, report = _ingest(path)
    assert report.file_type == "xlsx" and report.format == "prompt_response"
    assert _pairs(rows) == [("一加一等于几？", "2"), ("圆周率约等于多少？", "3.14")]
    assert [(p.row, p.field, p.reason) for p in report.problems] == [(5, "回答", "empty answer")]
    assert any("2 sheets" in note for note in report.notes)


def test_csv_cells_longer_than_the_csv_module_default(tmp_path: Path) -> None:
    long_answer = "长" * 200_000  # over the csv module's 131,072-character default cell limit
    path = tmp_path / "long.csv"
    path.write_text(f"prompt,response\n问题,{long_answer}\n", encoding="utf-8")
    rows, _ = _ingest(path)
    assert rows[0]["messages"][1]["content"] == long_answer


def test_parquet_messages(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = [
        {"messages": [{"role": "system", "content": "你是助手"}, {"role": "user", "content": "你好"},
                      {"role": "assistant", "content": "你好！"}]},
        {"messages": [{"role": "user", "content": "再见"}, {"role": "assistant", "content": "再见！"}]},
    ]  # fmt: skip
    path = tmp_path / "chat.parquet"
    pq.write_table(pa.Table.from_pylist(data), path)
    rows, report = _ingest(path)
    assert report.file_type == "parquet" and report.format == "messages" and report.encoding == "binary"
    assert [r["messages"] for r in rows] == [d["messages"] for d in data]


def test_tsv_and_json_object_with_a_list(tmp_path: Path, write_json) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text("query\tanswer\n天空为什么是蓝的？\t因为瑞利散射。\n", encoding="utf-8")
    rows, report = _ingest(path)
    assert report.file_type == "tsv" and _pairs(rows) == [("天空为什么是蓝的？", "因为瑞利散射。")]
    obj = write_json("wrapped.json", {"version": 2, "data": [{"instruction": "问", "output": "答"}]})
    rows, report = _ingest(obj)
    assert report.format == "alpaca" and report.file_type == "json" and len(rows) == 1


def test_sharegpt_openai_roles_and_system_field(write_json) -> None:
    data = [
        {
            "system": "你是心理咨询师",
            "conversations": [
                {"role": "user", "content": "我很焦虑"},
                {"role": "assistant", "content": "能说说吗？"},
            ],
        }
    ]
    rows, report = _ingest(write_json("sg.json", data))
    assert report.format == "sharegpt"
    assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]


def test_openai_typed_text_parts(write_jsonl) -> None:
    data = [
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "你"}, {"type": "text", "text": "好"}]},
                {"role": "assistant", "content": "你好"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
                {"role": "assistant", "content": "图"},
            ]
        },
    ]
    rows, report = _ingest(write_jsonl("typed.jsonl", data))
    assert rows[0]["messages"][0]["content"] == "你好"
    assert [(p.row, p.field) for p in report.problems] == [(2, "messages[0].content[0]")]
    assert "image_url" in report.problems[0].reason


def test_alpaca_history_and_system(write_json) -> None:
    data = [{"instruction": "那晚上呢？", "input": "", "output": "晚上早点睡。", "system": "你是健康顾问",
             "history": [["早上吃什么？", "吃点燕麦。"]]}]  # fmt: skip
    rows, _ = _ingest(write_json("hist.json", data))
    assert [m["content"] for m in rows[0]["messages"]] == [
        "你是健康顾问",
        "早上吃什么？",
        "吃点燕麦。",
        "那晚上呢？",
        "晚上早点睡。",
    ]


def test_user_mapping_overrides_columns(tmp_path: Path) -> None:
    path = tmp_path / "custom.csv"
    path.write_text("编号,提问内容,标准答复,设定\n1,你好吗,我很好,你是客服\n", encoding="utf-8")
    with pytest.raises(IngestError, match="提问内容"):  # the error lists the columns the user can map
        _ingest(path)
    mapping = {"prompt": "提问内容", "response": "标准答复", "system": "设定"}
    rows, report = _ingest(path, mapping=mapping)  # the format follows from the mapping's fields
    assert report.format == "prompt_response"
    assert [m["content"] for m in rows[0]["messages"]] == ["你是客服", "你好吗", "我很好"]
    with pytest.raises(IngestError, match="does not have") as info:
        _ingest(path, format="alpaca", mapping=mapping)
    assert info.value.field == "mapping"


def test_forced_format_that_does_not_fit_reports_every_row(write_json) -> None:
    path = write_json("a.json", [{"instruction": "问", "output": "答"}] * 3)
    with pytest.raises(IngestError, match="no valid rows as sharegpt"):
        _ingest(path, format="sharegpt")


def test_row_level_validation_report(write_jsonl) -> None:
    def conv(*turns):
        return {"messages": [{"role": r, "content": c} for r, c in turns]}

    data = [
        conv(("user", "好问题"), ("assistant", "好回答")),  # 1 fine
        conv(("user", "问"), ("assistant", "   ")),  # 2 empty answer
        conv(("user", "问一"), ("user", "问二"), ("assistant", "答")),  # 3 wrong order
        conv(("assistant", "我先说"), ("user", "嗯")),  # 4 starts with assistant
        conv(("user", "只有问题")),  # 5 no assistant turn
        {"msgs": []},  # 6 missing field
        conv(("user", "问" * 50), ("assistant", "答" * 60)),  # 7 over-long with max_chars=100
        conv(("user", "问"), ("robot", "答")),  # 8 unknown role
        conv(("user", "问"), ("assistant", "答"), ("system", "晚到的系统提示")),  # 9 system not first
    ]
    rows, report = _ingest(write_jsonl("v.jsonl", data), max_chars=100)
    assert [r["id"] for r in rows] == ["row-1"]
    got = {p.row: (p.field, p.reason) for p in report.problems}
    assert got[2] == ("messages[1].content", "empty answer")
    assert got[3] == ("messages[1].content", "wrong role order: two user turns in a row")
    assert "must start with a user turn" in got[4][1]
    assert got[5][1] == "no assistant turn"
    assert got[6] == ("messages", "missing or empty list of turns")
    assert got[7][0] == "row" and "110 characters" in got[7][1]
    assert got[8][0] == "messages[1].role" and "robot" in got[8][1]
    assert "only at the start" in got[9][1]
    assert report.num_invalid == len(data) - 1 == report.num_problems
    with pytest.raises(IngestError, match="8 rows have problems"):
        _ingest(write_jsonl("v2.jsonl", data), max_chars=100, on_invalid="reject")


@pytest.mark.parametrize(
    ("options", "field"),
    [({"format": "csv"}, "format"), ({"on_invalid": "skip"}, "on_invalid"), ({"dedup": "all"}, "dedup"),
     ({"near_dup_threshold": 0.0}, "near_dup_threshold"), ({"max_chars": 0}, "max_chars")],
)  # fmt: skip
def test_bad_options_are_named(write_json, options: dict, field: str) -> None:
    path = write_json("ok.json", [{"instruction": "问", "output": "答"}])
    with pytest.raises(IngestError) as info:
        _ingest(path, **options)
    assert info.value.field == field


def test_jsonl_under_a_json_name_and_single_object_files(tmp_path: Path, write_jsonl) -> None:
    rows = [{"prompt": f"问题{i}", "response": f"回答{i}"} for i in range(3)]
    misnamed = write_jsonl("really_lines.json", rows)
    got, report = _ingest(misnamed)
    assert report.file_type == "jsonl" and len(got) == 3
    single = write_jsonl("one.jsonl", rows[:1])
    got, report = _ingest(single)
    assert report.format == "prompt_response" and _pairs(got) == [("问题0", "回答0")]
    wrapped_one_line = write_jsonl("wrapped.jsonl", [{"data": rows}])
    got, _ = _ingest(wrapped_one_line)
    assert len(got) == 3
