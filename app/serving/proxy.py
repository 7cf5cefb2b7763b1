"""The dispatch layer of a chat request: deployment checks, its fixed system prompt, the FAQ layer, and a
streaming proxy to the serving process (httpx; the web never loads a model)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from app.models import Deployment, DeploymentStatus
from app.serving.faq import FaqMatch


@dataclass(frozen=True)
class Target:
    """What the proxy needs of a deployment, read inside a DB session and used after it closed."""

    id: int
    served_model_name: str
    status: str
    error: str | None
    endpoint_url: str | None
    internal_token: str | None
    system_prompt: str | None
    faq_version_id: int | None
    faq_threshold: float

    @classmethod
    def of(cls, dep: Deployment) -> Target:
        return cls(
            dep.id,
            dep.served_model_name,
            dep.status,
            dep.error,
            dep.endpoint_url,
            dep.internal_token,
            dep.system_prompt,
            dep.faq_version_id,
            dep.faq_threshold,
        )


def openai_error(
    status: int, message: str, kind: str = "invalid_request_error", code: str | None = None
) -> Response:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code, "param": None}}, status)


def not_ready(target: Target) -> Response | None:
    if target.status == DeploymentStatus.READY and target.endpoint_url:
        return None
    if target.status == DeploymentStatus.LOADING:
        return openai_error(
            503,
            f"Model '{target.served_model_name}' is still loading; retry shortly.",
            "service_unavailable",
            "model_loading",
        )
    reason = f": {target.error}" if target.error else ""
    return openai_error(
        503,
        f"Model '{target.served_model_name}' is {target.status}{reason}",
        "service_unavailable",
        f"model_{target.status}",
    )


def with_system_prompt(messages: list[dict[str, Any]], system_prompt: str | None) -> list[dict[str, Any]]:
    """A deployment's fixed system prompt replaces any the client sent (it is the operator's, not theirs)."""
    if not system_prompt:
        return messages
    rest = [m for m in messages if m.get("role") != "system"]
    return [{"role": "system", "content": system_prompt}, *rest]


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def faq_marker(match: FaqMatch) -> dict[str, Any]:
    return {
        "source": "faq",
        "similarity": match.similarity,
        "threshold": match.threshold,
        "matched_question": match.question,
    }


def faq_response(body: dict[str, Any], match: FaqMatch, *, chat: bool) -> Response:
    """The stored answer in the OpenAI shape, marked with ``ftstudio`` (source, similarity, threshold)."""
    created, model = int(time.time()), str(body.get("model"))
    rid = ("chatcmpl-faq-" if chat else "cmpl-faq-") + uuid.uuid4().hex[:20]
    marker = faq_marker(match)
    n = int(body.get("n") or 1)
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    if not body.get("stream"):
        if chat:
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": match.answer},
                    "finish_reason": "stop",
                }
                for i in range(n)
            ]
        else:
            choices = [
                {"index": i, "text": match.answer, "finish_reason": "stop", "logprobs": None}
                for i in range(n)
            ]
        obj = "chat.completion" if chat else "text_completion"
        return JSONResponse(
            {
                "id": rid,
                "object": obj,
                "created": created,
                "model": model,
                "choices": choices,
                "usage": usage,
                "ftstudio": marker,
            }
        )

    def events():  # type: ignore[no-untyped-def]
        base = {
            "id": rid,
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": created,
            "model": model,
            "ftstudio": marker,
        }
        for i in range(n):
            if chat:
                delta = {"role": "assistant", "content": match.answer}
                yield _sse({**base, "choices": [{"index": i, "delta": delta, "finish_reason": None}]})
                yield _sse({**base, "choices": [{"index": i, "delta": {}, "finish_reason": "stop"}]})
            else:
                yield _sse(
                    {
                        **base,
                        "choices": [
                            {"index": i, "text": match.answer, "finish_reason": "stop", "logprobs": None}
                        ],
                    }
                )
        if (body.get("stream_options") or {}).get("include_usage"):
            yield _sse({**base, "choices": [], "usage": usage})
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def forward(target: Target, method: str, path: str, body: dict[str, Any] | None = None) -> Response:
    """Send the request to the serving process and stream its answer back unchanged (SSE included)."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(connect=10, read=600, write=60, pool=10))
    request = client.build_request(
        method,
        f"{target.endpoint_url}{path}",
        json=body,
        headers={"X-Serving-Token": target.internal_token or ""},
    )
    try:
        upstream = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        return openai_error(
            502,
            f"The serving process of '{target.served_model_name}' did not answer: {exc}",
            "server_error",
            "upstream_unavailable",
        )

    async def close() -> None:
        await upstream.aclose()
        await client.aclose()

    if upstream.status_code >= 400:
        raw = await upstream.aread()
        await close()
        try:
            detail = json.loads(raw).get("detail", raw.decode(errors="replace"))
        except ValueError:
            detail = raw.decode(errors="replace")
        return openai_error(upstream.status_code, str(detail))
    return StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        media_type=upstream.headers.get("content-type"),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(close),
    )
