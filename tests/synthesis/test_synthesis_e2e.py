"""End to end through the real studio (FastAPI app, PostgreSQL, Redis, a Celery worker process running the
generation child) against a real OpenAI-compatible endpoint (a tiny LM, tests/synthesis/endpoint.py),
called with the official `openai` client. Slow: the endpoint's model is trained first (about a minute)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.spine.studio import wait_for_job
from tests.synthesis.conftest import API_KEY
from tests.synthesis.endpoint import TOPICS

pytestmark = pytest.mark.slow


def body(endpoint: Any, **overrides: Any) -> dict[str, Any]:
    values = {"base_url": endpoint.url, "api_key": API_KEY, "model": "tiny", "topics": TOPICS[:4],
              "rows": 4, "temperature": 0.0, "rate_limit_per_minute": 6000, "backoff_base": 0.05,
              "max_tokens": 80}  # fmt: skip
    return {**values, **overrides}


def start(api: Any, payload: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/v1/datasets/synthesize", json=payload)
    assert response.status_code == 202, response.text
    return response.json()


def finished(api: Any, job_id: int, statuses: set[str] | None = None) -> dict[str, Any]:
    wait_for_job(api, job_id, statuses or {"succeeded"}, timeout=240)
    return api.get(f"/api/v1/datasets/synthesize/{job_id}").json()


def test_twenty_rows_land_a_version_with_lineage(api: Any, endpoint: Any) -> None:
    job = start(
        api, body(endpoint, topics=TOPICS[:20], rows=20, name="synthetic-20", price_per_1k_tokens=0.5)
    )
    run = finished(api, job["id"])
    assert run["dataset_id"] and run["version"] == 1
    assert run["job"]["result"]["num_rows"] == 20 and run["job"]["result"]["num_unparsed"] == 0
    progress = run["progress"]
    assert progress["rows"] == 20 and progress["requests"] == 20
    tokens = progress["prompt_tokens"] + progress["completion_tokens"]
    assert tokens > 0 and progress["cost"] == pytest.approx(tokens / 1000 * 0.5)
    assert progress["json_mode"] is True  # the endpoint accepted response_format
    dataset = api.get(f"/api/v1/datasets/{run['dataset_id']}").json()
    assert dataset["name"] == "synthetic-20" and dataset["num_rows"] == 20
    assert dataset["num_train"] + dataset["num_val"] == 20
    version = api.get(f"/api/v1/datasets/{run['dataset_id']}/versions/1").json()
    lineage = version["report"]["synthesis"]
    assert lineage["model"] == "tiny" and lineage["endpoint"]["base_url"] == endpoint.url
    assert lineage["seeds"] == {"kind": "topics", "topics": TOPICS[:20]}
    assert lineage["template"]["prompt"] == "主题：{topic}" and lineage["template"]["role"]
    # the rows are the model's generated conversations, one per topic, validated like an upload
    page = api.get(f"/api/v1/datasets/{run['dataset_id']}/rows", params={"split": "train", "page_size": 50})
    questions = {r["messages"][0]["content"] for r in page.json()["rows"]}
    assert questions <= {f"How can I cope with {t}?" for t in TOPICS[:20]} and questions
    assert "duplicates" in version["report"] and version["report"]["duplicates"]["exact"] == 0


def test_a_malformed_answer_is_counted_not_crashed_on(api: Any, endpoint: Any) -> None:
    job = start(api, body(endpoint, model="tiny-sometimes-malformed", topics=TOPICS[4:9], rows=4))
    run = finished(api, job["id"])
    assert run["job"]["result"]["num_rows"] == 4
    assert run["job"]["result"]["num_unparsed"] >= 1 and run["progress"]["unparsed"] >= 1
    example = run["unparsed_examples"][0]
    assert example["reason"] and example["text"] and "{" not in example["text"]
    version = api.get(f"/api/v1/datasets/{run['dataset_id']}/versions/1").json()
    assert version["report"]["synthesis"]["unparsed_examples"][0]["text"] == example["text"]


def test_only_malformed_answers_fail_with_a_readable_message(api: Any, endpoint: Any) -> None:
    job = start(api, body(endpoint, model="tiny-malformed", topics=TOPICS[:2], rows=2))
    wait_for_job(api, job["id"], {"failed"}, timeout=240)
    failed = api.get(f"/api/v1/jobs/{job['id']}").json()
    assert "could be parsed" in failed["error"]


def test_429_is_retried_with_backoff_and_json_mode_falls_back(api: Any, endpoint: Any) -> None:
    limited = start(api, body(endpoint, model="tiny-429", topics=TOPICS[:2], rows=2))
    nojson = start(api, body(endpoint, model="tiny-nojson", topics=TOPICS[2:4], rows=2))
    run = finished(api, limited["id"])
    assert run["job"]["result"]["num_rows"] == 2 and run["progress"]["retries"] == 2
    run = finished(api, nojson["id"])
    assert run["job"]["result"]["num_rows"] == 2 and run["progress"]["json_mode"] is False


def test_cancel_keeps_rows_and_resume_completes(api: Any, endpoint: Any) -> None:
    job = start(api, body(endpoint, model="tiny-slow", topics=TOPICS[:12], rows=12, name="cancelled-run"))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        progress = api.get(f"/api/v1/datasets/synthesize/{job['id']}").json()["progress"]
        if progress.get("rows", 0) >= 3:
            break
        time.sleep(0.3)
    assert api.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    run = finished(api, job["id"], {"cancelled"})
    kept = run["job"]["result"]["num_rows"]
    assert 3 <= kept < 12 and run["dataset_id"] and run["version"] == 1
    assert api.get(f"/api/v1/datasets/{run['dataset_id']}").json()["num_rows"] == kept
    resumed = api.post(f"/api/v1/datasets/synthesize/{job['id']}/resume", json={})
    assert resumed.status_code == 202, resumed.text
    again = finished(api, resumed.json()["id"])
    assert again["dataset_id"] == run["dataset_id"] and again["version"] == 2
    assert again["job"]["result"]["num_rows"] == 12
    # the resumed run made only the missing rows
    assert again["progress"]["requests"] == 12


def test_the_key_never_appears_in_jobs_events_run_files_or_the_worker_log(
    api: Any, endpoint: Any, worker: Any
) -> None:
    job = start(api, body(endpoint, topics=TOPICS[:2], rows=2))
    finished(api, job["id"])
    assert any(r["headers"].get("authorization") == f"Bearer {API_KEY}" for r in endpoint.requests)
    from sqlalchemy import text

    from app.db import session_scope

    with session_scope() as session:
        for table in ("jobs", "job_events", "dataset_versions", "secrets"):
            dump = " ".join(str(row) for row in session.execute(text(f"select * from {table}")))
            assert API_KEY not in dump and API_KEY[-12:] not in dump, table
    files = [p for p in (worker.data_dir / "runs").rglob("*") if p.is_file()]
    assert files
    for path in [*files, worker.data_dir / "worker.log"]:
        assert API_KEY.encode() not in path.read_bytes(), path
    listed = api.get("/api/v1/synthesis/secrets").json()
    assert listed and all(API_KEY not in str(s) for s in listed)
    assert api.get(f"/api/v1/jobs/{job['id']}").text.count(API_KEY) == 0


def test_preview_renders_one_prompt_and_makes_one_call(api: Any, endpoint: Any) -> None:
    preview = api.post("/api/v1/datasets/synthesize/preview", json=body(endpoint))
    assert preview.status_code == 200, preview.text
    result = preview.json()
    assert result["messages"][0]["role"] == "system" and "Output format" in result["messages"][0]["content"]
    assert result["messages"][1]["content"] == f"主题：{TOPICS[0]}"
    assert result["conversations"][0][0]["content"] == f"How can I cope with {TOPICS[0]}?"
    offline = api.post("/api/v1/datasets/synthesize/preview", json={**body(endpoint), "call": False}).json()
    assert offline["answer"] is None and offline["messages"] == result["messages"]


def test_saved_template_is_reused(api: Any, endpoint: Any) -> None:
    template = {"name": "short", "role": "You write data.", "requirements": "One exchange.",
                "limits": "No names.", "output_format": "JSON with question and answer.",
                "prompt": "主题：{topic}"}  # fmt: skip
    created = api.post("/api/v1/synthesis/templates", json=template)
    assert created.status_code == 201, created.text
    job = start(api, body(endpoint, template_id=created.json()["id"], topics=TOPICS[10:12], rows=2))
    run = finished(api, job["id"])
    version = api.get(f"/api/v1/datasets/{run['dataset_id']}/versions/1").json()
    assert version["report"]["synthesis"]["template"]["role"] == "You write data."
    assert version["report"]["synthesis"]["template"]["id"] == created.json()["id"]


def test_seed_rows_are_varied_and_a_copy_of_a_seed_is_dropped(api: Any, endpoint: Any, tmp_path: Any) -> None:
    import json

    seeds = [("sleep", "Try a routine."), ("exams", "Plan your revision."),
             ("How can I cope with exams?", "Talk about exams calmly.")]  # fmt: skip
    path = tmp_path / "seeds.jsonl"
    rows = [{"id": f"s{k}", "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            for k, (q, a) in enumerate(seeds)]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with path.open("rb") as handle:
        uploaded = api.post(
            "/api/v1/datasets", files={"file": ("seeds.jsonl", handle)}, data={"name": "seeds"}
        )
    assert uploaded.status_code == 201, uploaded.text
    template = {"name": "vary", "role": "You vary conversations.", "prompt": "主题：{topic}"}
    payload = body(endpoint, topics=[], seed_dataset_id=uploaded.json()["id"], seed_row_ids=["s0", "s1"],
                   template=template, rows=2, name="varied")  # fmt: skip
    run = finished(api, start(api, payload)["id"])
    # "exams" came back as an exact copy of seed row s2: dropped by the gate, and counted
    assert run["job"]["result"]["num_generated"] == 2 and run["job"]["result"]["num_rows"] == 1
    version = api.get(f"/api/v1/datasets/{run['dataset_id']}/versions/1").json()
    assert version["report"]["seed_overlap"]["exact"] == 1
    lineage = version["report"]["synthesis"]["seeds"]
    assert lineage["kind"] == "dataset" and lineage["dataset_id"] == uploaded.json()["id"]
    assert lineage["row_ids"] == ["s0", "s1"] and lineage["version"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [({"base_url": "ftp://x"}, "base_url"), ({"base_url": "http://h/v1?key=1"}, "base_url"),
     ({"topics": []}, "topics"), ({"rows": 0}, "rows"),
     ({"template": {"prompt": "{topic} {mood}"}}, "template.variables"), ({"template_id": 999}, None)],
)  # fmt: skip
def test_bad_requests_are_named_and_save_no_key(
    api: Any, endpoint: Any, change: dict, field: str | None
) -> None:
    before = len(api.get("/api/v1/synthesis/secrets").json())
    response = api.post("/api/v1/datasets/synthesize", json={**body(endpoint), **change})
    assert response.status_code in (404, 422), response.text
    if field:
        assert response.json()["field"] == field
    assert len(api.get("/api/v1/synthesis/secrets").json()) == before


def test_the_page_in_both_languages_and_a_run_from_the_form(api: Any, endpoint: Any) -> None:
    import re

    zh = api.get("/datasets/synthesize?lang=zh").text
    en = api.get("/datasets/synthesize?lang=en").text
    assert "生成数据" in zh and "角色" in zh and "Generate data" in en and "Requirements" in en
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", en), "no inline scripts (CSP)"
    form = {"base_url": endpoint.url, "api_key": API_KEY, "model": "tiny", "topics": "sleep\nexams",
            "rows": "2", "temperature": "0", "rate_limit_per_minute": "6000", "prompt": "主题：{topic}",
            "role": "r", "name": "from-the-page", "max_tokens": "80"}  # fmt: skip
    preview = api.post("/ui/datasets/synthesize/preview", data=form).text
    assert "How can I cope with sleep?" in preview
    missing = api.post("/ui/datasets/synthesize", data={**form, "topics": ""}).text
    assert "alert-error" in missing and "topics" in missing
    card = api.post("/ui/datasets/synthesize", data=form).text
    job_id = int(re.search(r'data-job-id="(\d+)"', card).group(1))
    finished(api, job_id)
    fragment = api.get(f"/ui/datasets/synthesize/{job_id}").text
    assert 'id="synth-landed"' in fragment and "hx-trigger" not in fragment
    assert (
        "from-the-page" in api.get("/datasets/synthesize").text
        or str(job_id) in api.get("/datasets/synthesize").text
    )
