"""Files that once answered 500 (or were stored wrong) are a 4xx with a message, or stored right."""

from __future__ import annotations

import pytest

from tests.hardening.conftest import chat, jsonl, upload


def test_a_lone_surrogate_is_a_row_problem_not_a_500(client, unchanged) -> None:
    bad = '{"messages": [{"role": "user", "content": "hi \\ud800"}, {"role": "assistant", "content": "ok"}]}'
    alone = upload(client, "surrogate.jsonl", jsonl(bad))
    assert alone.status_code == 422, alone.text
    assert "surrogate" in alone.text
    unchanged()
    mixed = upload(client, "mixed.jsonl", jsonl(chat(), bad, chat("另一个")))
    assert mixed.status_code == 201, mixed.text
    assert mixed.json()["num_rows"] == 2 and "surrogate" in mixed.json()["problems"][0]["reason"]
    pair = bad.replace("hi \\ud800", "\\ud83d\\ude00")
    assert upload(client, "emoji.jsonl", jsonl(pair)).status_code == 201  # a real pair is an emoji


def test_a_surrogate_id_falls_back_to_the_row_position(client) -> None:
    turns = '[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]'
    row = '{"id": "\\udfff", "messages": ' + turns + "}"
    response = upload(client, "id.jsonl", jsonl(row))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_nested_1100_levels_is_a_422(client, unchanged, suffix: str) -> None:
    deep = "[" * 1100 + "]" * 1100
    content = (deep if suffix == ".json" else '{"a": ' + deep + "}").encode()
    response = upload(client, f"deep{suffix}", content)
    assert response.status_code == 422, response.text
    assert "nested too deeply" in response.text
    unchanged()


def test_deep_rows_among_good_ones_are_row_problems(client) -> None:
    deep = '{"x": ' + "[" * 1100 + "]" * 1100 + "}"
    response = upload(client, "some-deep.jsonl", jsonl(chat(), deep, chat("二")))
    assert response.status_code == 201, response.text
    assert "nested too deeply" in response.json()["problems"][0]["reason"]


def test_a_255_byte_file_name_uploads(client) -> None:
    name = "a" * 249 + ".jsonl"
    assert len(name.encode()) == 255
    response = upload(client, name, jsonl(chat()))
    assert response.status_code == 201, response.text
    name = "数" * 83 + ".jsonl"  # 255 bytes of UTF-8
    assert upload(client, name, jsonl(chat())).status_code == 201


def test_a_256_byte_file_name_is_a_422(client, unchanged) -> None:
    response = upload(client, "a" * 250 + ".jsonl", jsonl(chat()))
    assert response.status_code == 422 and response.json()["field"] == "file"
    unchanged()


def test_a_damaged_parquet_error_does_not_show_server_paths(client, studio, unchanged) -> None:
    response = upload(client, "bad.parquet", b"PAR1" + b"\x00garbage" * 50 + b"PAR1")
    assert response.status_code == 422, response.text
    text = response.text
    assert str(studio.data_dir) not in text and "/uploads/" not in text and "/tmp" not in text
    unchanged()


def test_a_damaged_xlsx_error_does_not_show_server_paths(client, studio, unchanged) -> None:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("xl/workbook.xml", "<not really")
    response = upload(client, "bad.xlsx", out.getvalue())
    assert response.status_code == 422, response.text
    assert str(studio.data_dir) not in response.text and "/uploads/" not in response.text
    unchanged()


def test_a_latin1_csv_is_stored_as_written(client) -> None:
    csv = "prompt,response\nQuel est le meilleur café ?,Un café crème à la française.\nGröße?,Straße.\n"
    response = upload(client, "latin.csv", csv.encode("latin-1"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["encoding"] in ("CP1252", "ISO-8859-1")
    rows = client.get(f"/api/v1/datasets/{body['id']}/rows").json()
    texts = " ".join(m["content"] for r in rows["rows"] for m in r["messages"])
    assert "café crème à la française" in texts and "Straße" in texts and "ķ" not in texts


def test_binary_and_gzip_uploads_are_422(client, unchanged) -> None:
    for name, content in [("x.jsonl", bytes(range(256)) * 40), ("x.jsonl", b"\x1f\x8b\x08" + b"\0" * 50),
                          ("x.csv", b"\xd0\xcf\x11\xe0" + b"\0" * 100), ("x.jsonl", b""),
                          ("x.zip", b"PK\x03\x04" + b"\0" * 30)]:  # fmt: skip
        response = upload(client, name, content)
        assert 400 <= response.status_code < 500, (name, response.text)
        assert response.json()["detail"]
    unchanged()
