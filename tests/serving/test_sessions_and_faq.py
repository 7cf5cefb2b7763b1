"""The dispatch and model layers on a running studio: an FAQ hit answered from the set (marked, with its
similarity and threshold) and other questions from the model; the WebSocket keeps a session's history
server-side; a conversation saved as a new dataset version; the SSE stream of the playground."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.clients import auth_headers
from tests.serving.conftest import ServedStudio
from tests.serving.helpers import deploy, new_key, openai_client

pytestmark = pytest.mark.slow

FAQ = [
    ("晚上总是睡不着怎么办？", "睡前一小时放下手机，固定起床时间，白天适量运动。"),
    ("考试前非常焦虑怎么办？", "把复习拆成小块，每完成一块就给自己一点肯定。"),
    ("心理咨询收费吗？", "学校心理中心的咨询对在校学生免费。"),
    ("How do I book a counselling session?", "Book it on the student portal under Health, then Counselling."),
]


@pytest.fixture(scope="module")
def faq_deployment(served: ServedStudio, tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("faq") / "faq.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for q, a in FAQ:
            row = {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    with path.open("rb") as handle:
        response = served.http.post(
            "/api/v1/datasets", files={"file": (path.name, handle)}, data={"val_set_size": "0", "name": "faq"}
        )
    assert response.status_code == 201, response.text
    return deploy(
        served.http,
        model_id=served.model_id,
        faq_dataset_id=response.json()["id"],
        faq_threshold=0.6,
        safety_notice="If you are in danger, call 110.",
    )


def test_an_faq_hit_is_answered_from_the_set(served: ServedStudio, faq_deployment: dict) -> None:
    client = openai_client(served.url, new_key(served.http, faq_deployment["id"]))
    name = faq_deployment["served_model_name"]
    hit = client.chat.completions.create(
        model=name, messages=[{"role": "user", "content": "晚上总是睡不着，怎么办"}]
    )
    assert hit.choices[0].message.content == FAQ[0][1]
    marker = hit.model_extra["ftstudio"]
    assert marker["source"] == "faq" and marker["threshold"] == 0.6 and marker["similarity"] >= 0.6
    assert marker["matched_question"] == FAQ[0][0]
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model=name,
            messages=[{"role": "user", "content": "How do I book a counselling session?"}],
            stream=True,
        )
        if c.choices
    )
    assert streamed == FAQ[3][1]
    miss = client.chat.completions.create(
        model=name, messages=[{"role": "user", "content": "写一首关于秋天的诗"}], max_tokens=8
    )
    assert "ftstudio" not in (miss.model_extra or {}), "an unrelated question should go to the model"
    assert miss.usage.completion_tokens > 0
    row = served.http.get(f"/api/v1/deployments/{faq_deployment['id']}").json()
    assert row["faq_hits"] == 2 and row["safety_notice"] == "If you are in danger, call 110."


def _turn(ws, message: dict) -> dict:  # type: ignore[no-untyped-def]
    ws.send(json.dumps(message, ensure_ascii=False))
    chunks = 0
    while True:
        event = json.loads(ws.recv(timeout=120))
        assert "error" not in event, event
        if event.get("choices"):
            chunks += 1
        if event.get("done"):
            return {**event, "chunks": chunks}


def test_the_websocket_keeps_the_session_history(served: ServedStudio, faq_deployment: dict) -> None:
    from websockets.sync.client import connect

    url = served.url.replace("http://", "ws://") + "/api/v1/playground/ws"
    with connect(url, additional_headers=auth_headers(served.studio.data_dir)) as ws:
        first = _turn(
            ws,
            {"deployment_id": faq_deployment["id"], "content": "你好", "generation": {"max_new_tokens": 6}},
        )
        second = _turn(ws, {"content": "请再说详细一点"})
        third = _turn(ws, {"content": "谢谢"})
    assert (first["turns"], second["turns"], third["turns"]) == (1, 2, 3)
    assert first["chunks"] > 1, "tokens should stream over the socket"
    # The server sent the whole history each turn: the prompt grows by the previous turns.
    assert (
        first["usage"]["prompt_tokens"] < second["usage"]["prompt_tokens"] < third["usage"]["prompt_tokens"]
    )
    conversations = served.http.get("/api/v1/conversations").json()
    conv = served.http.get(f"/api/v1/conversations/{conversations[0]['id']}").json()
    assert [m["role"] for m in conv["messages"]] == ["user", "assistant"] * 3
    assert conv["messages"][2]["content"] == "请再说详细一点"


def test_sse_turn_regenerate_and_save_as_a_dataset_version(
    served: ServedStudio, faq_deployment: dict
) -> None:
    def turn(body: dict) -> list[dict]:
        with served.http.stream("POST", "/api/v1/playground/chat", json=body, timeout=120) as response:
            assert response.status_code == 200
            return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]

    events = turn(
        {
            "deployment_id": faq_deployment["id"],
            "content": "最近压力很大",
            "preset": "sampling",
            "generation": {"max_new_tokens": 8, "seed": 1},
        }
    )
    conv_id = events[0]["conversation_id"]
    assert events[-1]["done"] and events[-1]["turns"] == 1
    again = turn(
        {
            "deployment_id": faq_deployment["id"],
            "conversation_id": conv_id,
            "regenerate": True,
            "preset": "sampling",
            "generation": {"max_new_tokens": 8, "seed": 2},
        }
    )
    assert again[-1]["turns"] == 1
    conv = served.http.get(f"/api/v1/conversations/{conv_id}").json()
    assert len(conv["messages"]) == 2  # regenerate replaced the answer, it did not add one
    before = served.http.get(f"/api/v1/datasets/{served.dataset_id}").json()
    corrected = [
        {"role": "user", "content": "最近压力很大"},
        {"role": "assistant", "content": "愿意说说是什么让你有压力吗？"},
    ]
    response = served.http.post(
        f"/api/v1/conversations/{conv_id}/dataset",
        json={"dataset_id": served.dataset_id, "messages": corrected},
    )
    assert response.status_code == 201, response.text
    saved = response.json()
    assert saved["version"] == before["version"] + 1
    assert saved["num_rows"] == before["num_rows"] + 1
    after = served.http.get(f"/api/v1/datasets/{served.dataset_id}").json()
    assert after["version"] == saved["version"] and after["num_rows"] == before["num_rows"] + 1


def test_beams_return_alternatives(served: ServedStudio, faq_deployment: dict) -> None:
    body = {
        "deployment_id": faq_deployment["id"],
        "content": "你好呀",
        "preset": "course",
        "generation": {"max_new_tokens": 6},
    }
    with (
        httpx.Client(
            base_url=served.url, headers=auth_headers(Path(served.studio.data_dir)), timeout=120
        ) as http,
        http.stream("POST", "/api/v1/playground/chat", json=body) as response,
    ):
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    indices = {c["index"] for e in events for c in e.get("choices", [])}
    assert indices == {0, 1, 2}, "the course preset returns 3 beams"
    conv = served.http.get(f"/api/v1/conversations/{events[0]['conversation_id']}").json()
    assert len(conv["messages"][-1]["alternatives"]) == 2
