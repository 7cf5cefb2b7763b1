"""The job page's panel (planted quick-eval and collapse events: the detection itself is the engine's test)
and the API's answers to bad requests. Real app and database (both modes), no worker: rows are inserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient


def _insert_train_job(studio_dir: Path, *, status: str, with_adapter: bool = True) -> int:
    from app.db import session_scope
    from app.models import LOCAL_USER_ID, Job, JobKind

    with session_scope() as session:
        job = Job(
            owner_id=LOCAL_USER_ID,
            kind=JobKind.TRAIN,
            status=status,
            method="lora",
            config={
                "base_model": {"id": None, "path": str(studio_dir / "no-model"), "gguf_file": None},
                "dataset": {"path": "datasets/none/v1"},
            },
        )
        session.add(job)
        session.flush()
        run_dir = studio_dir / "runs" / f"job-{job.id}"
        (run_dir / "final").mkdir(parents=True)
        if with_adapter:
            (run_dir / "final" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
        job.run_dir = str(run_dir)
        return job.id


def _plant(job_id: int, kind: str, step: int, data: dict, message: str | None = None) -> None:
    from app.db import session_scope
    from app.models import JobEvent, utcnow

    with session_scope() as session:
        session.add(
            JobEvent(job_id=job_id, kind=kind, step=step, message=message, data=data, created_at=utcnow())
        )


def test_job_page_shows_quick_evals_and_a_collapse_banner(client: TestClient, studio) -> None:
    job_id = _insert_train_job(studio.data_dir, status="running")
    page = client.get(f"/jobs/{job_id}?lang=en").text
    assert 'id="eval-panel"' in page and "every 5s" in page  # the panel refreshes while the job runs
    assert "collapse-banner" not in page and "quick-eval-chart" not in page
    for step, bleu in ((10, 4.5), (20, 7.25)):
        _plant(
            job_id,
            "quick_eval",
            step,
            {
                "step": step,
                "bleu4": bleu,
                "eval_loss": 2.0,
                "eval_loss_step": step if step == 20 else step - 2,  # the step-10 row: step 8's loss
                "repetition": 0.1,
                "distinct": 0.8,
                "samples": [{"prompt": "你好", "prediction": "嗯嗯", "reference": "你好呀"}],
            },
        )
    reason = "loss 9.81 at step 30 is 4.2x the running median 2.33"
    _plant(
        job_id,
        "collapse",
        30,
        {"step": 30, "kind": "loss_spike", "reason": reason, "action": "pause"},
        reason,
    )
    _plant(job_id, "best_checkpoints", 20, {"steps": [10, 20], "metric": "bleu4"})
    page = client.get(f"/jobs/{job_id}?lang=en").text
    banner = page.split('id="collapse-banner"', 1)[1].split("</div>", 1)[0]
    assert reason in banner and "pause" in banner and "30" in banner
    assert page.count('class="quick-bleu"') == 2 and "7.25" in page
    assert "Best checkpoints (bleu4): 10, 20" in page
    table = page.split('id="quick-eval-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("(@8)") == 1 and "(@20)" not in table  # an older eval loss says where it is from
    # The refresh endpoint renders the same panel on its own.
    fragment = client.get(f"/ui/jobs/{job_id}/eval-panel?lang=en").text
    assert reason in fragment and fragment.lstrip().startswith('<div id="eval-panel"')
    # Running: no compare button yet.
    assert "compare-form" not in page


def test_the_compare_button_posts_the_suite_and_errors_name_the_field(client: TestClient, studio) -> None:
    job_id = _insert_train_job(studio.data_dir, status="succeeded")
    page = client.get(f"/jobs/{job_id}?lang=en").text
    assert f'hx-post="/ui/jobs/{job_id}/compare"' in page and "Compare with base model" in page
    # MMCU folder that is not there: a readable message, not a job.
    answer = client.post(
        f"/ui/jobs/{job_id}/compare",
        data={"mmcu": "1", "mmcu_data_dir": "/nowhere/mmcu", "mmcu_mode": "likelihood"},
        headers={"HX-Request": "true"},
    )
    assert (
        answer.status_code == 200 and "/nowhere/mmcu" in answer.text and "suite.mmcu.data_dir" in answer.text
    )
    nothing = client.post(f"/ui/jobs/{job_id}/compare", data={}, headers={"HX-Request": "true"})
    assert "choose at least one of bleu_rouge and mmcu" in nothing.text
    bad_number = client.post(f"/ui/jobs/{job_id}/compare", data={"bleu_rouge": "1", "bleu_limit": "many"})
    assert "bleu_limit" in bad_number.text


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"suite": {"mmcu": {"data_dir": "/x"}}}, 422, "exactly one of model"),
        ({"model": "m", "job_id": 1, "suite": {"mmcu": {"data_dir": "/x"}}}, 422, "exactly one of model"),
        ({"model": "no-such-model", "suite": {}}, 422, "choose at least one"),
        ({"model": "no-such-model", "suite": {"mmcu": {"data_dir": "/x", "mode": "guess"}}}, 422, "mode"),
        ({"model": "no-such-model", "suite": {"mmcu": {"data_dir": "/x"}}}, 404, "no-such-model"),
        ({"job_id": 999999, "suite": {"mmcu": {"data_dir": "/x"}}}, 404, "999999"),
    ],
)
def test_bad_evaluation_requests_are_refused_clearly(
    client: TestClient, body: dict, status: int, fragment: str
) -> None:
    response = client.post("/api/v1/evaluations", json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def test_compare_refuses_jobs_it_cannot_compare(client: TestClient, studio, tmp_path: Path) -> None:
    suite = {"suite": {"bleu_rouge": {"limit": 4}}}
    running = _insert_train_job(studio.data_dir, status="running")
    response = client.post(f"/api/v1/jobs/{running}/compare", json=suite)
    assert response.status_code == 409 and "running" in response.json()["detail"]
    assert client.post("/api/v1/jobs/999999/compare", json=suite).status_code == 404
    # A succeeded job whose dataset folder has no validation split: BLEU needs reference answers.
    done = _insert_train_job(studio.data_dir, status="succeeded")
    response = client.post(f"/api/v1/jobs/{done}/compare", json=suite)
    assert response.status_code == 422 and response.json()["field"] == "suite.bleu_rouge"
    # A job that left no model behind.
    empty = _insert_train_job(studio.data_dir, status="succeeded", with_adapter=False)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    )
    response = client.post(
        f"/api/v1/jobs/{empty}/compare", json={"suite": {"bleu_rouge": {"rows_path": str(rows)}}}
    )
    assert response.status_code == 409 and "no fine-tuned model" in response.json()["detail"]
    # Comparing evaluations that do not exist.
    assert client.get("/api/v1/evaluations/compare?base=999998&tuned=999999").status_code == 404
    assert client.get("/api/v1/evaluations/999999").status_code == 404


def test_pages_render_empty_in_both_languages(client: TestClient) -> None:
    for lang in ("en", "zh"):
        assert client.get(f"/evaluations?lang={lang}").status_code == 200
        board = client.get(f"/evaluations/leaderboard?lang={lang}")
        assert board.status_code == 200 and "ChatGLM 6B" in board.text
    assert 'id="nav-evaluations"' in client.get("/jobs?lang=en").text


def test_the_compare_button_queues_both_sides_and_opens_the_comparison(
    client: TestClient, studio, mmcu_sample: Path
) -> None:
    job_id = _insert_train_job(studio.data_dir, status="succeeded")
    answer = client.post(
        f"/ui/jobs/{job_id}/compare",
        data={"mmcu": "1", "mmcu_data_dir": str(mmcu_sample), "mmcu_mode": "likelihood", "mmcu_limit": "3"},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 204, answer.text
    target = answer.headers["HX-Redirect"]
    assert target.startswith("/evaluations/compare?base=")
    base_id, tuned_id = (int(part.split("=")[1]) for part in target.split("?", 1)[1].split("&"))
    tuned = client.get(f"/api/v1/evaluations/{tuned_id}").json()
    assert tuned["job_id"] == job_id and tuned["suite"]["mmcu"]["limit"] == 3
    assert tuned["suite"]["bleu_rouge"] is None
    # No worker here: both wait on the queue and the page says so, polling until they finish.
    page = client.get(f"{target}&lang=en").text
    assert "every 3s" in page and 'id="comparison-table"' not in page
    assert client.get(f"/api/v1/evaluations/compare?base={base_id}&tuned={tuned_id}").status_code == 409
    for evaluation_id in (base_id, tuned_id):
        assert client.post(f"/api/v1/jobs/{evaluation_id}/cancel").json()["status"] == "cancelled"
    page = client.get(f"{target}&lang=en").text
    assert "every 3s" not in page and "did not succeed" in page
