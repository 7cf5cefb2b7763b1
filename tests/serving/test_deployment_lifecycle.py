"""Deployments on a running studio: a load that fails says why, undeploy stops the process and frees the
slot, two LoRA adapters of one base share a process and answer differently."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
import pytest

from tests.serving.conftest import ServedStudio
from tests.serving.helpers import deploy, new_key, openai_client, wait_status

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "考试快到了，我一看书就心慌。"}]


def _answer(served: ServedStudio, dep: dict) -> str:
    client = openai_client(served.url, new_key(served.http, dep["id"]))
    reply = client.chat.completions.create(
        model=dep["served_model_name"], messages=QUESTION, max_tokens=16, temperature=0
    )
    return reply.choices[0].message.content


def test_a_model_that_cannot_load_says_why(served: ServedStudio, tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    response = served.http.post("/api/v1/models", json={"path": str(broken), "id": "broken-model"})
    assert response.status_code == 201, response.text
    dep = deploy(served.http, model_id="broken-model", wait_for="failed", timeout=90)
    assert dep["status"] == "failed"
    assert "could not load model" in dep["error"] and "no-such-architecture" in dep["error"], dep["error"]
    client = openai_client(served.url, new_key(served.http, dep["id"]))
    import openai

    with pytest.raises(openai.APIStatusError, match="failed"):
        client.chat.completions.create(model=dep["served_model_name"], messages=QUESTION)


def test_bad_requests_name_the_problem(served: ServedStudio) -> None:
    response = served.http.post("/api/v1/deployments", json={"job_id": served.job_id, "checkpoint": "nope"})
    assert response.status_code == 422 and response.json()["field"] == "checkpoint"
    response = served.http.post(
        "/api/v1/deployments", json={"job_id": served.job_id, "checkpoint": "checkpoint-999"}
    )
    assert response.status_code == 422 and "checkpoint-6" in response.json()["detail"]
    response = served.http.post("/api/v1/deployments", json={"model_id": "no-such-model"})
    assert response.status_code == 404
    response = served.http.post("/api/v1/deployments", json={})
    assert response.status_code == 422
    assert served.http.get("/api/v1/deployments/999999").status_code == 404


def test_two_adapters_share_one_base_and_answer_differently(served: ServedStudio) -> None:
    early = deploy(served.http, job_id=served.job_id, checkpoint="checkpoint-2")
    final = deploy(served.http, job_id=served.job_id)
    try:
        assert (
            early["adapter_path"] and final["adapter_path"] and early["adapter_path"] != final["adapter_path"]
        )
        assert early["pid"] == final["pid"], "LoRA deployments of one base should share its serving process"
        answers = {_answer(served, early), _answer(served, final)}
        assert len(answers) == 2, f"two adapters gave the same answer: {answers}"
        # Interleaved again, in the same process: each still answers as itself (set_adapter per request).
        assert _answer(served, early) in answers and _answer(served, final) in answers
    finally:
        for dep in (early, final):
            served.http.delete(f"/api/v1/deployments/{dep['id']}")
        for dep in (early, final):
            wait_status(served.http, dep["id"], {"stopped"}, timeout=60)


def test_undeploy_stops_the_process_and_frees_the_slot(served: ServedStudio) -> None:
    """A process serves every deployment of its base: undeploying one unloads it (it answers "stopped"),
    undeploying the last one stops the process. Nothing is left running and no slot stays taken."""
    dep = deploy(served.http, model_id=served.model_id, name="to-undeploy")
    key = new_key(served.http, dep["id"])
    active = served.http.get("/api/v1/deployments", params={"active": True}).json()
    pids = {d["pid"] for d in active if d["pid"]}
    assert dep["pid"] in pids and all(psutil.pid_exists(p) for p in pids)
    response = served.http.delete(f"/api/v1/deployments/{dep['id']}")
    assert response.status_code == 200
    stopped = wait_status(served.http, dep["id"], {"stopped"}, timeout=60)
    assert stopped["pid"] is None
    import openai

    with pytest.raises(openai.APIStatusError, match="stopped"):
        openai_client(served.url, key).chat.completions.create(
            model=dep["served_model_name"], messages=QUESTION
        )
    for other in active:
        if other["id"] != dep["id"]:
            served.http.delete(f"/api/v1/deployments/{other['id']}")
    for other in active:
        wait_status(served.http, other["id"], {"stopped"}, timeout=60)
    deadline = time.monotonic() + 20
    for pid in pids:
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, f"serving process {pid} still runs after undeploy"
            time.sleep(0.2)
    assert served.http.get("/api/v1/deployments", params={"active": True}).json() == []
