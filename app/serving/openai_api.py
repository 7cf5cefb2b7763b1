"""OpenAI-compatible endpoints (/v1). A deployment's API key is the only credential; ``model`` must be that
deployment's served_model_name. Errors use OpenAI's shape so clients show them as they would OpenAI's."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.db import session_scope
from app.errors import StudioError
from app.models import Deployment
from app.serving import proxy
from app.serving.faq import FaqMatch
from app.serving.service import DeploymentService, Unauthorized

router = APIRouter(prefix="/v1", tags=["openai"])


def _lookup(authorization: str | None) -> proxy.Target:
    with session_scope() as session:
        return proxy.Target.of(DeploymentService(session).authorize(authorization))


def faq_lookup(target: proxy.Target, question: str) -> FaqMatch | None:
    """The best FAQ pair for ``question`` when the deployment has an FAQ set and it clears the threshold;
    counts the hit on the deployment."""
    if target.faq_version_id is None or not question.strip():
        return None
    from app.datasets.repository import DatasetRepository
    from app.datasets.storage import version_folder
    from app.serving.faq import index_for_version

    with session_scope() as session:
        version = DatasetRepository(session).get_version(target.faq_version_id)
        if version is None:
            return None
        index = index_for_version(str(version_folder(version) / "rows.jsonl"), version.content_hash)
        match = index.best(question, target.faq_threshold)
        if match is None or not match.hit:
            return None
        dep = session.get(Deployment, target.id)
        if dep is not None:
            dep.faq_hits += 1
        return match


async def _authorized(request: Request) -> proxy.Target | Response:
    try:
        return await run_in_threadpool(_lookup, request.headers.get("authorization"))
    except Unauthorized as exc:
        return proxy.openai_error(401, exc.message, "invalid_request_error", "invalid_api_key")


async def _body(request: Request) -> dict[str, Any] | Response:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return proxy.openai_error(400, "The body must be JSON.")
    if not isinstance(body, dict):
        return proxy.openai_error(400, "The body must be a JSON object.")
    return body


@router.get("/models")
async def list_models(request: Request) -> Any:
    target = await _authorized(request)
    if isinstance(target, Response):
        return target
    return {
        "object": "list",
        "data": [{"id": target.served_model_name, "object": "model", "created": 0, "owned_by": "ftstudio"}],
    }


async def _completion(request: Request, *, chat: bool) -> Response:
    target = await _authorized(request)
    if isinstance(target, Response):
        return target
    body = await _body(request)
    if isinstance(body, Response):
        return body
    if body.get("model") != target.served_model_name:
        return proxy.openai_error(
            404,
            f"The model '{body.get('model')}' does not exist for this key; use '{target.served_model_name}'.",
            code="model_not_found",
        )
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return proxy.openai_error(400, "messages: a non-empty list is required.")
        body["messages"] = proxy.with_system_prompt(messages, target.system_prompt)
        question = proxy.last_user_text(messages)
    else:
        if not isinstance(body.get("prompt"), str | list):
            return proxy.openai_error(400, "prompt: a string is required.")
        question = body["prompt"] if isinstance(body["prompt"], str) else ""
    try:
        match = await run_in_threadpool(faq_lookup, target, question)
    except (StudioError, ValueError, OSError):
        match = None  # a broken FAQ set must not take the model down with it
    if match is not None:
        return proxy.faq_response(body, match, chat=chat)
    if (problem := proxy.not_ready(target)) is not None:
        return problem
    return await proxy.forward(target, "POST", "/v1/chat/completions" if chat else "/v1/completions", body)


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    return await _completion(request, chat=True)


@router.post("/completions")
async def completions(request: Request) -> Response:
    return await _completion(request, chat=False)
