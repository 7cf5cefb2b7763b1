"""The dataset pages through the real app: the upload form with its options shows the detected format,
encoding, problems and duplicates; the dataset page lists versions and drives review (drop ticked rows,
drop duplicates, re-split, flag) into new versions; both languages render."""

from __future__ import annotations

import io
import json

from fastapi.testclient import TestClient

from tests.spine.conftest import COUNSELLING_ROWS

HX = {"HX-Request": "true"}


def _spreadsheet() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["客户的话", "咨询师回复"])
    for question, answer in COUNSELLING_ROWS:
        sheet.append([question, answer])
    sheet.append([COUNSELLING_ROWS[0][0], COUNSELLING_ROWS[0][1]])  # an exact copy
    sheet.append(["只有问题没有回答", None])  # an empty answer
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _upload_page(client: TestClient, **fields: str) -> str:
    response = client.post(
        "/ui/datasets/upload?lang=en",
        files={"file": ("messy.xlsx", _spreadsheet())},
        data=fields,
        headers=HX,
    )
    assert response.status_code == 200
    return response.text


def test_upload_form_shows_format_problems_and_duplicates(client: TestClient) -> None:
    form = client.get("/datasets?lang=en").text
    names = ("format", "on_invalid", "dedup", "near_dup_threshold", "val_set_size", "val_set_rate", "seed",
             "map_prompt", "map_response", "max_chars")  # fmt: skip
    for name in names:
        assert f'name="{name}"' in form, name
    refused = _upload_page(client, on_invalid="reject", map_prompt="客户的话", map_response="咨询师回复")
    assert 'id="upload-error"' in refused and 'id="upload-problems"' in refused
    html = _upload_page(client, map_prompt="客户的话", map_response="咨询师回复", name="messy-sheet")
    assert 'id="upload-ok"' in html, html[:2000]
    assert '<b id="upload-detected-format">prompt_response</b>' in html
    assert 'id="upload-problems"' in html and "<td>9</td>" in html  # spreadsheet row 9: header is row 1
    assert 'id="upload-duplicates"' in html and "exact" in html
    assert "messy-sheet" in html  # the list below is refreshed out of band


def test_dataset_page_review_actions_make_versions(client: TestClient) -> None:
    listed = client.get("/api/v1/datasets").json()
    dataset = next(d for d in listed if d["name"] == "messy-sheet")
    dataset_id = dataset["id"]
    page = client.get(f"/datasets/{dataset_id}?lang=en").text
    assert 'id="versions"' in page and 'data-version="1"' in page and 'id="drop-dups-exact"' in page
    assert 'id="char-histogram"' in page and 'id="analyse-form"' in page
    rows = client.get(f"/ui/datasets/{dataset_id}/rows?lang=en&page_size=3&model=tiny", headers=HX).text
    ids = [part.split('"')[0] for part in rows.split('data-row-id="')[1:]]
    assert len(ids) == 3 and "Show tokens and loss" in rows
    # Drop the ticked rows -> v2 (htmx is told where to go next).
    dropped = client.post(
        f"/ui/datasets/{dataset_id}/versions",
        data={"version": "1", "row_id": ids[:2], "note": "ticked"},
        headers=HX,
    )
    assert dropped.status_code == 204 and dropped.headers["HX-Redirect"] == f"/datasets/{dataset_id}"
    v2 = client.get(f"/api/v1/datasets/{dataset_id}").json()
    assert v2["version"] == 2 and v2["num_rows"] == dataset["num_rows"] - 2
    # The exact copy from the report, then a re-split; nothing ticked -> an error message, no version.
    dups = " ".join(v2["duplicates"]["exact_ids"])
    assert (
        client.post(f"/ui/datasets/{dataset_id}/versions", data={"extra_ids": dups}, headers=HX).status_code
        == 204
    )
    client.post(f"/ui/datasets/{dataset_id}/versions", data={"val_set_size": "2"}, headers=HX)
    after = client.get(f"/api/v1/datasets/{dataset_id}").json()
    assert after["version"] == 4 and after["num_val"] == 2 and after["duplicates"]["exact"] == 0
    empty = client.post(f"/ui/datasets/{dataset_id}/versions", data={"version": "4"}, headers=HX)
    assert empty.status_code == 200 and "Nothing would change" in empty.text
    flagged = client.post(
        f"/ui/datasets/{dataset_id}/versions", data={"action": "flag", "row_id": ids[2]}, headers=HX
    )
    assert flagged.status_code == 204
    assert client.get(f"/api/v1/datasets/{dataset_id}").json()["flagged"] == [ids[2]]
    for lang, word in (("zh", "版本"), ("en", "Versions")):
        assert word in client.get(f"/datasets/{dataset_id}?lang={lang}").text
    found = sum(
        client.get(
            f"/ui/datasets/{dataset_id}/rows", params={"q": "室友", "split": s}, headers=HX
        ).text.count('data-row-id="')
        for s in ("train", "val")
    )
    assert found == sum("室友" in q for q, _ in COUNSELLING_ROWS)  # ids[:2] dropped were other questions
    assert json.dumps(after)  # the API and the page agree on one dataset
