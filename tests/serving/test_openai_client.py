"""The official `openai` client against a running studio (web + worker + serving process), unchanged:
non-stream and stream, n=2, stop sequences, usage counts, keys, the model name, errors in OpenAI's shape."""

from __future__ import annotations

import openai
import pytest

from tests.serving.conftest import ServedStudio
from tests.serving.helpers import deploy, new_key, openai_client

pytestmark = pytest.mark.slow

HELLO = [{"role": "user", "content": "你好，最近我总是睡不着。"}]


@pytest.fixture(scope="module")
def base(served: ServedStudio) -> tuple[dict, openai.OpenAI]:
    dep = deploy(served.http, model_id=served.model_id)
    return dep, openai_client(served.url, new_key(served.http, dep["id"]))


def test_non_stream_chat_with_n_and_usage(base: tuple[dict, openai.OpenAI]) -> None:
    dep, client = base
    assert [m.id for m in client.models.list()] == [dep["served_model_name"]]
    reply = client.chat.completions.create(
        model=dep["served_model_name"], messages=HELLO, n=2, max_tokens=12, temperature=1.0, seed=3
    )
    assert len(reply.choices) == 2
    assert reply.choices[0].message.content != reply.choices[1].message.content  # sampled independently
    assert reply.usage.prompt_tokens > 5
    assert 0 < reply.usage.completion_tokens <= 24
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert {c.finish_reason for c in reply.choices} <= {"length", "stop"}


def test_stream_matches_non_stream_and_reports_usage(base: tuple[dict, openai.OpenAI]) -> None:
    dep, client = base
    whole = client.chat.completions.create(
        model=dep["served_model_name"], messages=HELLO, max_tokens=16, temperature=0
    )
    pieces, usage, chunks = [], None, 0
    for chunk in client.chat.completions.create(
        model=dep["served_model_name"],
        messages=HELLO,
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    ):
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
    assert chunks > 3, "the answer arrived in one piece, not streamed"
    assert "".join(pieces) == whole.choices[0].message.content
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens


def test_stop_sequence_cuts_the_answer(base: tuple[dict, openai.OpenAI]) -> None:
    dep, client = base
    free = client.completions.create(
        model=dep["served_model_name"], prompt="The counsellor", max_tokens=24, temperature=0
    ).choices[0]
    text = free.text
    assert len(text) > 4
    stop = text[2:4]  # a piece of what greedy decoding will produce again
    cut = client.completions.create(
        model=dep["served_model_name"], prompt="The counsellor", max_tokens=24, temperature=0, stop=[stop]
    ).choices[0]
    assert cut.finish_reason == "stop"
    assert cut.text == text[: text.find(stop)]
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(
            model=dep["served_model_name"],
            prompt="The counsellor",
            max_tokens=24,
            temperature=0,
            stop=[stop],
            stream=True,
        )
        if c.choices
    )
    assert streamed == cut.text


def test_bad_key_and_wrong_model_are_openai_errors(
    served: ServedStudio, base: tuple[dict, openai.OpenAI]
) -> None:
    dep, client = base
    with pytest.raises(openai.AuthenticationError):
        openai_client(served.url, "fts-not-a-key").chat.completions.create(
            model=dep["served_model_name"], messages=HELLO
        )
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4o", messages=HELLO)


def test_counters_reach_the_deployment(served: ServedStudio, base: tuple[dict, openai.OpenAI]) -> None:
    import time

    dep, _ = base
    deadline = time.monotonic() + 10
    row = {}
    while time.monotonic() < deadline:
        row = served.http.get(f"/api/v1/deployments/{dep['id']}").json()
        if row["requests"] >= 4 and row["completion_tokens"] > 0:
            break
        time.sleep(0.5)
    assert row["requests"] >= 4 and row["completion_tokens"] > 0, row
    assert row["load_seconds"] is not None and row["worker_id"] and row["device"] == "cpu"


def test_ftstudio_deploy_prints_a_working_key(served: ServedStudio) -> None:
    import json
    import os
    import subprocess
    import sys

    # The CLI signs in with FTSTUDIO_TOKEN when it talks to a server (the embedded token file is only found
    # with --data-dir); the fixture's own client already holds a token for the local admin.
    token = served.http.headers["authorization"].split(" ", 1)[1]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli.main",
            "deploy",
            "--model",
            served.model_id,
            "--api-url",
            served.url,
            "--json",
            "--wait",
            "120",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "FTSTUDIO_TOKEN": token},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "ready" and result["base_url"] == f"{served.url}/v1"
    client = openai.OpenAI(base_url=result["base_url"], api_key=result["api_key"], max_retries=0)
    reply = client.completions.create(model=result["served_model_name"], prompt="Hello", max_tokens=3)
    assert reply.usage.completion_tokens > 0
