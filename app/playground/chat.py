"""Server-side chat sessions, shared by the playground's SSE stream and the WebSocket: a conversation row
keeps the history; each turn appends the user's message, streams the model's (or the FAQ's) answer as
OpenAI chunks, and saves what was said."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from app.db import session_scope
from app.deps import Principal
from app.errors import InvalidInput, NotFound
from app.models import Conversation, utcnow
from app.serving import proxy
from app.serving.openai_api import faq_lookup
from app.serving.repository import DeploymentRepository
from app.serving.service import DeploymentService


class ChatTurn(BaseModel):
    """One user turn. ``regenerate`` drops the last answer and answers the same question again."""

    model_config = ConfigDict(extra="forbid")

    deployment_id: int
    conversation_id: int | None = None
    content: str = Field("", max_length=50_000)
    regenerate: bool = False
    system_prompt: str | None = Field(None, max_length=20_000)
    preset: str | None = None
    generation: dict[str, Any] | None = None


@dataclass
class Prepared:
    target: proxy.Target
    conversation_id: int
    messages: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)


def prepare(user: Principal, turn: ChatTurn) -> Prepared:
    """Validate the turn, load or create the conversation, and return the messages to send."""
    with session_scope() as session:
        dep = DeploymentService(session).get(user, turn.deployment_id)
        repo = DeploymentRepository(session)
        if turn.conversation_id is not None:
            conv = repo.conversation(turn.conversation_id, user.scope_owner_id)
            if conv is None:
                raise NotFound(
                    f"Conversation {turn.conversation_id} does not exist.", field="conversation_id"
                )
        else:
            title = (turn.content or "").strip().splitlines()[0][:80] if turn.content.strip() else ""
            conv = Conversation(owner_id=user.user_id, title=title, deployment_id=dep.id, messages=[])
            repo.add(conv)
        history = list(conv.messages or [])
        if turn.regenerate:
            while history and history[-1]["role"] == "assistant":
                history.pop()
            if not history:
                raise InvalidInput(
                    "Nothing to regenerate: the conversation has no question yet.", field="regenerate"
                )
        else:
            if not turn.content.strip():
                raise InvalidInput("content: write a message first.", field="content")
            history.append({"role": "user", "content": turn.content})
        if turn.system_prompt is not None:
            conv.system_prompt = turn.system_prompt or None
        conv.messages = history
        conv.settings = {"preset": turn.preset, "generation": turn.generation or {}}
        conv.updated_at = utcnow()
        system = conv.system_prompt
        messages = [{"role": m["role"], "content": m["content"]} for m in history]
        if system:
            messages = [{"role": "system", "content": system}, *messages]
        messages = proxy.with_system_prompt(messages, dep.system_prompt)
        return Prepared(proxy.Target.of(dep), conv.id, messages)


async def answer(prepared: Prepared, turn: ChatTurn) -> AsyncIterator[dict[str, Any]]:
    """OpenAI chunk dicts (plus a first {"conversation_id"}), ending with {"done": ...}; saves the answer."""
    yield {"conversation_id": prepared.conversation_id}
    texts: dict[int, str] = {}
    marker: dict[str, Any] = {"source": "model"}
    usage: dict[str, int] | None = None
    question = proxy.last_user_text(prepared.messages)
    match = await _faq(prepared.target, question)
    if match is not None:
        marker = proxy.faq_marker(match)
        texts[0] = match.answer
        yield {
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": match.answer}}],
            "ftstudio": marker,
        }
    else:
        problem = proxy.not_ready(prepared.target)
        if problem is not None:
            yield {"error": json.loads(bytes(problem.body))["error"]["message"]}
            return
        body = {
            "model": prepared.target.served_model_name,
            "messages": prepared.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "preset": turn.preset,
            "generation": turn.generation or {},
        }
        if turn.preset is None and not turn.generation:
            body.pop("preset")
        async for chunk in _upstream(prepared.target, body):
            if "error" in chunk:
                yield {"error": chunk["error"].get("message", str(chunk["error"]))}
                return
            for choice in chunk.get("choices", []):
                piece = (choice.get("delta") or {}).get("content") or ""
                texts[choice["index"]] = texts.get(choice["index"], "") + piece
            if chunk.get("usage"):
                usage = chunk["usage"]
            yield chunk
    turns = _save(prepared.conversation_id, texts, marker)
    yield {"done": True, "usage": usage, "ftstudio": marker, "turns": turns}


async def _faq(target: proxy.Target, question: str):  # type: ignore[no-untyped-def]
    from fastapi.concurrency import run_in_threadpool

    try:
        return await run_in_threadpool(faq_lookup, target, question)
    except (ValueError, OSError):
        return None


async def _upstream(target: proxy.Target, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    timeout = httpx.Timeout(connect=10, read=600, write=60, pool=10)
    headers = {"X-Serving-Token": target.internal_token or ""}
    try:
        async with (
            httpx.AsyncClient(timeout=timeout) as client,
            client.stream(
                "POST", f"{target.endpoint_url}/v1/chat/completions", json=body, headers=headers
            ) as r,
        ):
            if r.status_code >= 400:
                raw = await r.aread()
                try:
                    detail = json.loads(raw).get("detail")
                except ValueError:
                    detail = raw.decode(errors="replace")
                yield {"error": {"message": str(detail)}}
                return
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                yield json.loads(line[6:])
    except httpx.HTTPError as exc:
        yield {"error": {"message": f"the serving process did not answer: {exc}"}}


def _save(conversation_id: int, texts: dict[int, str], marker: dict[str, Any]) -> int:
    """Append the answer (alternatives kept beside it); returns the number of user turns."""
    with session_scope() as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None:
            return 0
        ordered = [texts[i] for i in sorted(texts)]
        message: dict[str, Any] = {"role": "assistant", "content": ordered[0] if ordered else ""}
        if len(ordered) > 1:
            message["alternatives"] = ordered[1:]
        if marker.get("source") == "faq":
            message["faq"] = marker
        conv.messages = [*(conv.messages or []), message]
        conv.updated_at = utcnow()
        return sum(1 for m in conv.messages if m["role"] == "user")
