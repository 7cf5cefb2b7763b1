"""The scorecard end to end: the real app, a real Celery worker and the real evaluation child on the tiny
model, in both studio modes (PostgreSQL + Redis, SQLite + filesystem broker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.spine.studio import wait_for_job

# A train job and two evaluation children per studio mode: about a minute of CPU each mode.
pytestmark = pytest.mark.slow

GENERATION = {"preset": "greedy", "max_new_tokens": 8}


def _suite(dataset_id: int, mmcu: Path, *, rows: int, questions: int) -> dict:
    return {
        "bleu_rouge": {"dataset_id": dataset_id, "limit": rows, "generation": GENERATION},
        "mmcu": {"data_dir": str(mmcu), "mode": "likelihood", "limit": questions},
    }


def _eval_job_ids(client: TestClient) -> set[int]:
    return {e["id"] for e in client.get("/api/v1/evaluations").json()}


@pytest.fixture(scope="module")
def compared(client: TestClient, trained_job: dict, dataset_id: int, mmcu_sample: Path) -> dict:
    """The one click, on a fresh studio: both sides are new evaluation jobs; waits until both succeeded."""
    suite = _suite(dataset_id, mmcu_sample, rows=3, questions=5)
    before = _eval_job_ids(client)
    response = client.post(f"/api/v1/jobs/{trained_job['id']}/compare", json={"suite": suite})
    assert response.status_code == 201, response.text
    started = response.json()
    for side in ("base", "tuned"):
        wait_for_job(client, started[side]["id"], {"succeeded"}, timeout=240)
    return {**started, "suite": suite, "before": before}


@pytest.fixture(scope="module")
def base_evaluation(client: TestClient, compared: dict) -> dict:
    return client.get(f"/api/v1/evaluations/{compared['base']['id']}").json()


def test_an_eval_job_stores_bleu_rouge_and_mmcu_scores(client: TestClient, base_evaluation: dict) -> None:
    from app.db import session_scope
    from app.models import Job, Score

    scores = base_evaluation["scores"]
    bleu = scores["bleu_rouge"]
    for metric in ("bleu1", "bleu2", "bleu3", "bleu4", "corpus_bleu4", "rouge-1", "rouge-2", "rouge-l"):
        assert metric in bleu, sorted(bleu)
        assert 0.0 <= bleu[metric]["value"] <= 100.0
        assert bleu[metric]["count"] == 3
    mmcu = scores["mmcu"]
    assert 0.0 <= mmcu["overall"] <= 1.0
    assert sum(d["count"] for d in mmcu["domains"].values()) == 5
    assert all(s["domain"] in mmcu["domains"] for s in mmcu["subjects"].values())
    # The rows in the database are exactly the child's scores.json (nothing lost or invented on the way).
    with session_scope() as session:
        job = session.get(Job, base_evaluation["id"])
        written = json.loads((Path(job.run_dir) / "scores.json").read_text(encoding="utf-8"))
        rows = session.query(Score).filter_by(job_id=job.id).all()
        assert job.result["per_item"]["bleu4"] == written["per_item"]["bleu4"]
        assert len(job.result["per_item"]["mmcu_correct"]) == 5
    by_key = {(r.suite, r.metric, r.domain, r.subject): r.value for r in rows}
    assert by_key[("bleu_rouge", "bleu4", None, None)] == pytest.approx(written["bleu"]["sentence"]["bleu4"])
    assert by_key[("mmcu", "accuracy", None, None)] == pytest.approx(written["mmcu"]["overall"])
    for domain, value in written["mmcu"]["domains"].items():
        assert by_key[("mmcu", "accuracy", domain, None)] == pytest.approx(value)
    assert {k[3] for k in by_key if k[3]} == set(written["mmcu"]["subjects"])
    assert len(base_evaluation["samples"]) == 3
    page = client.get(f"/evaluations/{base_evaluation['id']}?lang=en").text
    assert "mmcu-overall" in page and "bleu-rouge-scores" in page


def test_compare_runs_both_sides_then_reuses_them(
    client: TestClient, trained_job: dict, compared: dict
) -> None:
    started, suite, before = compared, compared["suite"], compared["before"]
    assert started["cached"] == {"base": False, "tuned": False}
    base_id, tuned_id = started["base"]["id"], started["tuned"]["id"]
    assert _eval_job_ids(client) - before == {base_id, tuned_id}
    assert started["tuned"]["job_id"] == trained_job["id"] and started["tuned"]["is_fine_tune"]
    assert not started["base"]["is_fine_tune"]
    # The fine-tune is the base model + the adapter the train job left in final/.
    tuned_job = client.get(f"/api/v1/jobs/{tuned_id}").json()
    adapter = Path(tuned_job["config"]["model"]["adapter_path"])
    assert (adapter.name, adapter.parent.name) == ("final", f"job-{trained_job['id']}")
    base_job = client.get(f"/api/v1/jobs/{base_id}").json()
    assert base_job["config"]["model"]["adapter_path"] is None
    assert base_job["config"]["suite"] == tuned_job["config"]["suite"]

    # The second click: both evaluations exist with this exact suite, so nothing new is queued.
    again = client.post(f"/api/v1/jobs/{trained_job['id']}/compare", json={"suite": suite}).json()
    assert again["cached"] == {"base": True, "tuned": True}
    assert (again["base"]["id"], again["tuned"]["id"]) == (base_id, tuned_id)
    assert _eval_job_ids(client) - before == {base_id, tuned_id}

    comparison = client.get(f"/api/v1/evaluations/compare?base={base_id}&tuned={tuned_id}")
    assert comparison.status_code == 200, comparison.text
    body = comparison.json()
    rows = {(r["suite"], r["metric"], r["domain"], r["subject"]): r for r in body["rows"]}
    base_scores = client.get(f"/api/v1/evaluations/{base_id}").json()["scores"]
    tuned_scores = client.get(f"/api/v1/evaluations/{tuned_id}").json()["scores"]
    bleu4 = rows[("bleu_rouge", "bleu4", None, None)]
    assert bleu4["base"] == pytest.approx(base_scores["bleu_rouge"]["bleu4"]["value"])
    assert bleu4["diff"] == pytest.approx(
        tuned_scores["bleu_rouge"]["bleu4"]["value"] - base_scores["bleu_rouge"]["bleu4"]["value"]
    )
    assert bleu4["n_items"] == 3 and bleu4["ci_low"] <= bleu4["diff"] <= bleu4["ci_high"]
    # Every headline BLEU / ROUGE row has its interval (the engine once kept per-item BLEU-4 only, and the
    # page listed "per-item scores missing on one side" for the six others).
    for metric in ("bleu1", "bleu2", "bleu3", "rouge-1", "rouge-2", "rouge-l"):
        row = rows[("bleu_rouge", metric, None, None)]
        assert row["n_items"] == 3 and row["ci_low"] <= row["diff"] <= row["ci_high"], (metric, row)
    assert not [n for n in body["notes"] if "per-item scores missing" in n], body["notes"]
    accuracy = rows[("mmcu", "accuracy", None, None)]
    assert accuracy["diff"] == pytest.approx(tuned_scores["mmcu"]["overall"] - base_scores["mmcu"]["overall"])
    assert accuracy["n_items"] == 5 and accuracy["ci_low"] <= accuracy["diff"] <= accuracy["ci_high"]
    micro = rows[("mmcu", "accuracy_micro", None, None)]
    assert micro["ci_low"] is not None and micro["n_items"] == 5
    assert len(body["samples"]) == 3 and all(
        s["base"] is not None and s["tuned"] is not None for s in body["samples"]
    )
    page = client.get(f"/evaluations/compare?base={base_id}&tuned={tuned_id}&lang=en").text
    assert 'id="comparison-table"' in page and 'id="chart-bleu_rouge"' in page and 'id="sample-pairs"' in page
    # The train job's panel lists the fine-tune evaluation with a link to this comparison.
    fragment = client.get(f"/ui/jobs/{trained_job['id']}/evaluations").text
    assert f"/evaluations/compare?base={base_id}&tuned={tuned_id}" in fragment


def test_leaderboard_puts_ours_beside_the_published_rows(client: TestClient, base_evaluation: dict) -> None:
    from worker.evaluation.mmcu_scoring import PUBLISHED_ZERO_SHOT

    rows = client.get("/api/v1/evaluations/leaderboard").json()
    published = [r for r in rows if r["source"] != "ours"]
    assert {r["model"] for r in published} == set(PUBLISHED_ZERO_SHOT)
    assert [r["overall"] for r in rows] == sorted((r["overall"] for r in rows), reverse=True)
    ours = next(r for r in rows if r["evaluation_id"] == base_evaluation["id"])
    assert ours["overall"] == pytest.approx(base_evaluation["scores"]["mmcu"]["overall"])
    assert ours["data_dir"] and Path(ours["data_dir"]).name == "mmcu-layout-sample"
    page = client.get("/evaluations/leaderboard?lang=en").text
    assert "GPT-3.5-turbo" in page and f'data-evaluation-id="{base_evaluation["id"]}"' in page


def test_an_explicit_evaluation_is_queued_and_can_be_cancelled(
    client: TestClient, compared: dict, tiny_model_id: str
) -> None:
    # An explicit request never reuses: even with the suite of a finished evaluation it queues a new job.
    response = client.post("/api/v1/evaluations", json={"model": tiny_model_id, "suite": compared["suite"]})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"] != compared["base"]["id"] and created["target"] == f"model {tiny_model_id}"
    assert created["status"] in ("queued", "running")
    cancelled = client.post(f"/api/v1/jobs/{created['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    done = wait_for_job(client, created["id"], {"cancelled"}, timeout=120)
    assert done["kind"] == "eval"
    listed = client.get("/api/v1/evaluations").json()
    assert next(e for e in listed if e["id"] == created["id"])["status"] == "cancelled"
    # A cancelled evaluation is never a cache hit.
    again = client.post(
        f"/api/v1/jobs/{compared['tuned']['job_id']}/compare", json={"suite": compared["suite"]}
    )
    assert again.json()["base"]["id"] == compared["base"]["id"]
