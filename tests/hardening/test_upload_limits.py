"""Uploads are refused while they stream in (Content-Length first, then counted bytes), with nothing left
behind; xlsx zip bombs, over-long rows and row floods are refused before they cost the web process."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import pytest

from tests.clients import token_for
from tests.hardening.conftest import chat, jsonl, upload

LIMIT = 1_000_000


def test_declared_content_length_over_the_limit_is_refused_unread(client_with, unchanged) -> None:
    http = client_with(max_upload_bytes=LIMIT)
    response = upload(http, "big.jsonl", b"x" * (3 * LIMIT))
    assert response.status_code == 413, response.text
    assert f"{LIMIT:,}" in response.json()["detail"]
    unchanged()


def test_chunked_upload_is_stopped_while_streaming(client_with, unchanged) -> None:
    http = client_with(max_upload_bytes=LIMIT)

    def body():  # no Content-Length: the server must count
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n'
        for _ in range(5):
            yield b"y" * LIMIT
        yield b"\r\n--b--\r\n"

    response = http.post(
        "/api/v1/datasets", content=body(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 413, response.text
    unchanged()


def test_a_1_gib_stream_is_refused_after_reading_about_the_limit(studio, monkeypatch) -> None:
    """Straight at the ASGI app: a lazy 1 GiB body; the app must stop pulling chunks soon after the limit."""
    from app.settings import reset_settings_cache
    from app.web import create_app

    monkeypatch.setenv("FTSTUDIO_MAX_UPLOAD_BYTES", str(LIMIT))
    reset_settings_cache()
    try:
        app = create_app()
    finally:
        monkeypatch.undo()
        reset_settings_cache()
    chunk, total_chunks, pulled = 64 * 1024, (1 << 30) // (64 * 1024), 0
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n'
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        body = head if pulled == 1 else b"z" * chunk
        return {"type": "http.request", "body": body, "more_body": pulled < total_chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/datasets", "raw_path": b"/api/v1/datasets", "query_string": b"",
        "root_path": "", "headers": [(b"host", b"localhost"),
                                     (b"authorization", f"Bearer {token_for()}".encode()),
                                     (b"content-type", b"multipart/form-data; boundary=b")],
        "client": ("127.0.0.1", 1), "server": ("localhost", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    read = pulled * chunk
    assert read < 3 * LIMIT, f"the app read {read:,} bytes of a 1 GiB upload before refusing it"


def test_json_bodies_are_bounded_too(client) -> None:
    response = client.post(
        "/api/v1/models", content=b'{"path": "' + b"a" * (17 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 413


def _xlsx(rows: int, *, level: int = 9) -> bytes:
    """A minimal workbook written by hand, its sheet deflated at `level` (a zip bomb when tiny)."""
    sheet = io.StringIO()
    sheet.write('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                'spreadsheetml/2006/main"><sheetData>')  # fmt: skip
    cell = '<c r="{c}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
    sheet.write(
        f'<row r="1">{cell.format(c="A", r=1, v="prompt")}{cell.format(c="B", r=1, v="response")}</row>'
    )
    same = '<row><c t="inlineStr"><is><t>q</t></is></c><c t="inlineStr"><is><t>a</t></is></c></row>'
    sheet.write(same * rows)  # row and cell references are optional: identical rows deflate ~1000x
    sheet.write("</sheetData></worksheet>")
    ns = "http://schemas.openxmlformats.org"
    parts = {
        "[Content_Types].xml": f'<?xml version="1.0"?><Types xmlns="{ns}/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": f'<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook xmlns="{ns}/spreadsheetml/2006/main" '
        f'xmlns:r="{ns}/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/>'
        "</sheets></workbook>",
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/'
        f'relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet.getvalue(),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    return out.getvalue()


def test_a_small_workbook_still_uploads(client) -> None:
    response = upload(client, "ok.xlsx", _xlsx(5))
    assert response.status_code == 201, response.text
    assert response.json()["num_rows"] == 5


def test_xlsx_zip_bomb_is_refused_before_parsing(client, unchanged) -> None:
    bomb = _xlsx(300_000)
    assert len(bomb) < 1_000_000  # small on the wire, tens of MB of XML inside
    response = upload(client, "bomb.xlsx", bomb)
    assert response.status_code == 422, response.text
    assert "zip bomb" in response.json()["detail"]
    unchanged()


def test_xlsx_row_cap(client_with, unchanged) -> None:
    http = client_with(max_xlsx_rows=50)
    response = upload(http, "rows.xlsx", _xlsx(60, level=1))
    assert response.status_code == 422, response.text
    assert "50" in response.json()["detail"]
    unchanged()


def test_row_count_cap(client_with, unchanged) -> None:
    http = client_with(max_upload_rows=10)
    response = upload(http, "rows.jsonl", jsonl(*(chat(f"问题 {i}") for i in range(11))))
    assert response.status_code == 422, response.text
    assert "10" in response.json()["detail"]
    unchanged()


def test_a_row_over_the_character_cap_is_a_clear_422(client_with, unchanged) -> None:
    http = client_with(max_row_chars=10_000)
    response = upload(http, "long.jsonl", jsonl(chat(), chat("长" * 20_000), chat("再问一次")))
    assert response.status_code == 422, response.text
    body = response.json()
    assert "row 2" in body["detail"] and "10,000" in body["detail"] and body["field"] == "row"
    unchanged()


def test_near_duplicates_of_a_one_million_character_row_use_bounded_memory() -> None:
    import tracemalloc

    from app.datasets.ingest.dedup import _Signer

    signer = _Signer()
    text = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1_000_000))
    tracemalloc.start()
    try:
        signer.sign(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Before: NUM_PERM x shingles uint64 at once, 128 x 8 x 1M = 1 GB; now blocks of SIGN_BLOCK shingles.
    assert peak < 150 * 1024 * 1024, f"signing one 1M-character row peaked at {peak / 2**20:.0f} MiB"


def test_large_uploads_leave_near_duplicates_to_the_analysis_job(client_with) -> None:
    http = client_with(inline_near_dup_rows=5)
    rows = [chat(f"我最近总是睡不着，第{i}天了，怎么办") for i in range(12)] + [chat(), chat()]
    response = upload(http, "big.jsonl", jsonl(*rows), name="many rows")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["duplicates"]["exact"] == 1  # exact copies are still found in the request
    assert any("analysis job" in note for note in body["notes"])
    assert body["duplicates"]["near_searched"] is False
    small = upload(http, "small.jsonl", jsonl(chat(), chat("另一个问题")), name="few rows")
    assert not any("analysis job" in note for note in small.json()["notes"])


@pytest.mark.parametrize(
    "form", [{"name": "\x00\x01\x02"}, {"name": "   "}, {"name": "a\u202eb"}, {"name": "\n"}]
)
def test_dataset_names_of_control_characters_or_blanks_are_refused(client, unchanged, form: dict) -> None:
    response = upload(client, "ok.jsonl", jsonl(chat()), **form)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "name"
    unchanged()


def test_dataset_name_is_trimmed(client) -> None:
    response = upload(client, "ok.jsonl", jsonl(chat()), name="  咨询对话  ")
    assert response.status_code == 201 and response.json()["name"] == "咨询对话"


def test_json_error_shapes_are_json(client) -> None:
    assert json.loads(upload(client, "x.jsonl", b"{").text)["detail"]


def test_the_upload_page_shows_the_limit_as_a_message(client_with, unchanged) -> None:
    http = client_with(max_upload_bytes=LIMIT)
    files = {"file": ("big.jsonl", b"x" * (3 * LIMIT))}
    fragment = http.post("/ui/datasets/upload", files=files, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "alert-error" in fragment.text and f"{LIMIT:,}" in fragment.text
    page = http.post("/ui/datasets/upload", files=files)
    assert page.status_code == 413 and f"{LIMIT:,}" in page.text

    def body():  # chunked: counted while it streams
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n'
        for _ in range(3):
            yield b"y" * LIMIT
        yield b"\r\n--b--\r\n"

    streamed = http.post(
        "/ui/datasets/upload",
        content=body(),
        headers={"content-type": "multipart/form-data; boundary=b", "HX-Request": "true"},
    )
    assert streamed.status_code == 200 and "alert-error" in streamed.text and f"{LIMIT:,}" in streamed.text
    unchanged()
