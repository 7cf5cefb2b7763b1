"""Synthesis from one of the studio's own deployments, through the real stack: `ftstudio up` (web + local
worker that trains and serves, tests/serving/conftest.py), a deployment of the tiny Llama, a synthesis job
whose child calls the studio's /v1 with the official `openai` client and a key the synthesis service minted.

The tiny model answers garbage, so its answers are counted as unparsed. The deployment's FAQ layer (the
course's model layer) answers the topics it stores with stored JSON conversations: those land as rows.
Slow: the `served` fixture trains a short LoRA job first."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.clients import auth_headers
from tests.serving.conftest import ServedStudio, served, tiny_model_dir, wait_job  # noqa: F401
from tests.serving.helpers import deploy

pytestmark = pytest.mark.slow

# A deployment key as serving mints it (KEY_PREFIX + token_urlsafe(32): 43 characters). The database keeps
# a 10-character prefix next to the key's sha256, which reads as one longer run of such characters.
KEY = re.compile(rb"fts-[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
GARBAGE = ["sleep", "exams"]  # not in the FAQ set: the tiny model answers them
STORED = {
    "roommates": ("My roommate is loud at night, what can I do?", "Agree on quiet hours together."),
    "grief": ("My grandmother died last month and I feel empty.", "Grief takes time; talk to someone."),
    "music": ("Practising the violin makes me anxious.", "Short daily sessions ease the pressure."),
}


def faq_rows(path: Path) -> Path:
    """FAQ pairs whose question is the default template's user message for a topic ("主题：{topic}") and
    whose answer is a JSON conversation the synthesis parser accepts."""
    with path.open("w", encoding="utf-8") as handle:
        for topic, (question, answer) in STORED.items():
            stored = json.dumps({"question": question, "answer": answer}, ensure_ascii=False)
            row = {
                "messages": [
                    {"role": "user", "content": f"主题：{topic}"},
                    {"role": "assistant", "content": stored},
                ]
            }
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def deployment(served: ServedStudio, tmp_path_factory: pytest.TempPathFactory) -> dict:  # noqa: F811
    path = faq_rows(tmp_path_factory.mktemp("synth-faq") / "faq.jsonl")
    with path.open("rb") as handle:
        response = served.http.post(
            "/api/v1/datasets", files={"file": (path.name, handle)}, data={"val_set_size": "0"}
        )
    assert response.status_code == 201, response.text
    return deploy(
        served.http, model_id=served.model_id, faq_dataset_id=response.json()["id"], faq_threshold=0.99
    )


def counters_reach(http: httpx.Client, dep_id: int, requests: int, timeout: float = 30.0) -> dict:
    """The serving worker reports its counters a little after the answers; wait for them."""
    deadline, dep = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        dep = http.get(f"/api/v1/deployments/{dep_id}").json()
        if dep["requests"] >= requests:
            return dep
        time.sleep(0.5)
    return dep


def test_a_run_through_the_studios_own_deployment(served: ServedStudio, deployment: dict) -> None:  # noqa: F811
    http, before = served.http, deployment
    response = http.post(
        "/api/v1/datasets/synthesize",
        json={
            "deployment_id": deployment["id"],
            "topics": [*GARBAGE, *STORED],
            "rows": 3,
            "name": "from-my-deployment",
            "temperature": 0.0,
            "max_tokens": 24,
            "rate_limit_per_minute": 6000,
            "backoff_base": 0.05,
        },
    )
    assert response.status_code == 202, response.text
    job = wait_job(http, response.json()["id"], timeout=240)
    run = http.get(f"/api/v1/datasets/synthesize/{job['id']}").json()
    assert job["status"] == "succeeded", (job, run["progress"], run["unparsed_examples"])

    # the job recorded the studio's own /v1 URL and the deployment's model name, and no key
    endpoint = job["config"]["endpoint"]
    assert endpoint["kind"] == "deployment" and endpoint["deployment_id"] == deployment["id"]
    assert endpoint["base_url"] == f"{served.url}/v1"
    assert job["config"]["model"] == deployment["served_model_name"]

    # the tiny model's garbage was counted, not crashed on; the FAQ's stored conversations landed
    progress = run["progress"]
    assert progress["rows"] == 3 and progress["unparsed"] == len(GARBAGE)
    assert progress["requests"] == 3 + len(GARBAGE)
    assert {e["seed"] for e in run["unparsed_examples"]} == set(GARBAGE)
    assert progress["prompt_tokens"] > 0 and progress["completion_tokens"] > 0  # the model's answers

    # the deployment served the run: its model answered the garbage topics, its FAQ layer the others
    dep = counters_reach(http, deployment["id"], before["requests"] + len(GARBAGE))
    assert dep["requests"] >= before["requests"] + len(GARBAGE)
    assert dep["completion_tokens"] > before["completion_tokens"]
    assert dep["faq_hits"] >= before.get("faq_hits", 0) + len(STORED)

    # a dataset version with its lineage from the studio's own deployment
    assert run["dataset_id"] and run["version"] == 1
    version = http.get(f"/api/v1/datasets/{run['dataset_id']}/versions/1").json()
    lineage = version["report"]["synthesis"]
    assert lineage["endpoint"] == {
        "kind": "deployment",
        "deployment_id": deployment["id"],
        "base_url": f"{served.url}/v1",
        "model": deployment["served_model_name"],
    }
    assert lineage["model"] == deployment["served_model_name"]
    questions = set()
    for split in ("train", "val"):
        params = {"split": split, "page_size": 50}
        page = http.get(f"/api/v1/datasets/{run['dataset_id']}/rows", params=params)
        questions |= {r["messages"][0]["content"] for r in page.json()["rows"]}
    assert questions == {q for q, _ in STORED.values()}

    # the minted key is nowhere: job, events, run folder, logs, the studio's output, the database files
    assert not KEY.search(http.get(f"/api/v1/jobs/{job['id']}").content)
    assert not KEY.search(http.get(f"/api/v1/jobs/{job['id']}/job-events").content)
    assert not KEY.search(http.get(f"/api/v1/jobs/{job['id']}/logs").content)
    data_dir = served.studio.data_dir
    scanned = [
        p
        for p in data_dir.rglob("*")
        if p.is_file()
        and p.stat().st_size < 50_000_000
        and (p.suffix in {".log", ".jsonl", ".json", ".txt", ""} or "ftstudio.db" in p.name)
    ]
    assert any("/runs/" in str(p) and p.name == "generated.jsonl" for p in scanned)
    for path in scanned:
        assert not KEY.search(path.read_bytes()), path
    assert not KEY.search(served.studio.output().encode())


def test_members_only_use_their_own_deployments(served: ServedStudio, deployment: dict) -> None:  # noqa: F811
    data_dir = served.studio.data_dir
    with httpx.Client(base_url=served.url, headers=auth_headers(data_dir, user="mia"), timeout=30) as mia:
        response = mia.post(
            "/api/v1/datasets/synthesize",
            json={"deployment_id": deployment["id"], "topics": ["sleep"], "rows": 1},
        )
        assert response.status_code == 404, response.text
        page = mia.get("/datasets/synthesize")
        assert page.status_code == 200 and deployment["served_model_name"] not in page.text
    page = served.http.get("/datasets/synthesize")
    assert f'value="{deployment["id"]}" data-model="{deployment["served_model_name"]}"' in page.text
    # a deployment and an external endpoint at once is refused, naming the problem
    both = served.http.post(
        "/api/v1/datasets/synthesize",
        json={"deployment_id": deployment["id"], "base_url": "http://example.com/v1", "topics": ["sleep"]},
    )
    assert both.status_code == 422 and "not both" in both.text
    wrong = served.http.post(
        "/api/v1/datasets/synthesize",
        json={"deployment_id": deployment["id"], "model": "some-other-model", "topics": ["sleep"]},
    )
    assert wrong.status_code == 422 and deployment["served_model_name"] in wrong.text
