"""Playground API: open a model, chat over SSE or a WebSocket (server-side sessions), conversations."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from app.deps import CurrentUser, SessionDep
from app.errors import StudioError
from app.playground import chat
from app.playground.service import OpenRequest, SaveRequest, conversation, open_deployment, save_as_dataset
from app.serving.schemas import DeploymentRead
from worker.evaluation.generation import PRESETS, GenerationSettings

router = APIRouter(prefix="/api/v1", tags=["playground"])


@router.get("/playground/presets")
def presets() -> dict[str, Any]:
    """The course's generation presets and every GenerationSettings field with its default and bounds."""
    return {"presets": PRESETS, "schema": GenerationSettings.model_json_schema()}


@router.post("/playground/open", response_model=DeploymentRead)
def open_model(request: OpenRequest, session: SessionDep, user: CurrentUser) -> DeploymentRead:
    """A deployment to chat with: the one asked for, a live one of the same source, or a new one."""
    return DeploymentRead.model_validate(open_deployment(session, user, request))


@router.post("/playground/chat")
async def chat_sse(turn: chat.ChatTurn, user: CurrentUser) -> StreamingResponse:
    """One turn as server-sent events: {"conversation_id"}, OpenAI chunks as they are generated, {"done"}."""
    prepared = await run_in_threadpool(chat.prepare, user, turn)

    async def events():  # type: ignore[no-untyped-def]
        async for event in chat.answer(prepared, turn):
            yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.websocket("/playground/ws")
async def chat_ws(websocket: WebSocket, user: CurrentUser) -> None:
    """Real-time multi-turn chat. Send {"deployment_id", "content", ...ChatTurn}; the socket remembers its
    conversation (kept server-side), so later messages need only "content". Each turn answers with
    {"conversation_id"}, chunks, then {"done", "turns"}; a bad message gets {"error"}, the socket stays."""
    await websocket.accept()
    session_state: dict[str, Any] = {}
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                data = {**session_state, **json.loads(raw)}
                turn = chat.ChatTurn(**data)
                prepared = await run_in_threadpool(chat.prepare, user, turn)
            except (ValueError, ValidationError, StudioError) as exc:
                await websocket.send_json({"error": getattr(exc, "message", str(exc))})
                continue
            session_state.update(deployment_id=turn.deployment_id, conversation_id=prepared.conversation_id)
            for key in ("system_prompt", "preset", "generation"):
                if key in data:
                    session_state[key] = data[key]
            async for event in chat.answer(prepared, turn):
                await websocket.send_json(event)
    except WebSocketDisconnect:
        return


@router.get("/conversations")
def list_conversations(session: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    from app.serving.repository import DeploymentRepository

    return [_conversation_json(c) for c in DeploymentRepository(session).conversations(user.scope_owner_id)]


@router.get("/conversations/{conversation_id}")
def get_conversation(conversation_id: int, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return _conversation_json(conversation(session, user, conversation_id), full=True)


@router.delete("/conversations/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_conversation(conversation_id: int, session: SessionDep, user: CurrentUser) -> None:
    session.delete(conversation(session, user, conversation_id))
    session.commit()


@router.post("/conversations/{conversation_id}/dataset", status_code=status.HTTP_201_CREATED)
def save_conversation(
    conversation_id: int, request: SaveRequest, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    """The conversation (answers corrected by a person, if given) as a row of a new dataset version."""
    version = save_as_dataset(session, user, conversation_id, request)
    return {"dataset_id": version.dataset_id, "version": version.version, "num_rows": version.num_rows}


def _conversation_json(conv: Any, *, full: bool = False) -> dict[str, Any]:
    data = {
        "id": conv.id,
        "title": conv.title,
        "deployment_id": conv.deployment_id,
        "turns": sum(1 for m in conv.messages or [] if m.get("role") == "user"),
        "created_at": conv.created_at.isoformat() if conv.created_at else None,
        "updated_at": conv.updated_at.isoformat() if conv.updated_at else None,
    }
    if full:
        data.update(
            messages=conv.messages or [], system_prompt=conv.system_prompt, settings=conv.settings or {}
        )
    return data
