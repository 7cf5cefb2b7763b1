"""One chat completion through the official `openai` client, with the behaviour a long generation run
needs: exponential backoff on 429 / 5xx / connection errors, JSON mode that falls back when the endpoint
refuses it, token counts, and error messages that never contain the API key. Pure: no web, no DB."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai

from app.synthesis.secrets import redact

RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)


class EndpointError(Exception):
    """A call that cannot succeed (bad key, unknown model, retries used up). The message is safe to show."""

    def __init__(self, message: str, *, fatal: bool) -> None:
        super().__init__(message)
        self.fatal = fatal


@dataclass
class CallResult:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    json_mode: bool = False
    retries: int = 0


@dataclass
class Caller:
    base_url: str
    api_key: str
    model: str
    temperature: float = 0.8
    max_tokens: int = 1024
    json_mode: str = "auto"  # "auto": try response_format json_object, drop it if refused; "on" | "off"
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    timeout: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    should_stop: Callable[[], bool] = lambda: False
    json_supported: bool | None = field(default=None, init=False)  # learnt from the first answer
    retries_total: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        # max_retries=0: the loop below retries, so every wait is counted and a cancel stops the waiting.
        self.client = openai.OpenAI(
            base_url=self.base_url, api_key=self.api_key or "none", max_retries=0, timeout=self.timeout
        )

    def _use_json(self) -> bool:
        return self.json_mode == "on" or (self.json_mode == "auto" and self.json_supported is not False)

    def _safe(self, exc: Exception) -> str:
        return redact(str(exc), self.api_key)[:500]

    def _create(self, messages: list[dict[str, str]], use_json: bool) -> Any:
        extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if use_json else {}
        return self.client.chat.completions.create(
            model=self.model,
            messages=messages,  # type: ignore[arg-type]
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            **extra,
        )

    def _delay(self, attempt: int, exc: Exception) -> float:
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        try:
            return min(self.backoff_max, max(delay, float(retry_after))) if retry_after else delay
        except ValueError:
            return delay

    def chat(self, messages: list[dict[str, str]]) -> CallResult:
        attempt = 0
        while True:
            use_json = self._use_json()
            try:
                response = self._create(messages, use_json)
            except RETRYABLE as exc:
                if attempt >= self.max_retries or self.should_stop():
                    raise EndpointError(
                        f"The endpoint kept failing after {attempt + 1} tries: {self._safe(exc)}", fatal=False
                    ) from None
                self.sleep(self._delay(attempt, exc))
                attempt += 1
                self.retries_total += 1
                continue
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if use_json and self.json_mode == "auto":
                    self.json_supported = False  # the endpoint refuses JSON mode: ask in plain text
                    continue
                message = f"The endpoint refused the request: {self._safe(exc)}"
                raise EndpointError(message, fatal=True) from None
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise EndpointError(
                    f"The endpoint rejected the API key ({exc.status_code}).", fatal=True
                ) from None
            except openai.NotFoundError:
                raise EndpointError(
                    f"The endpoint does not know the model '{self.model}' (404), or the URL is wrong.",
                    fatal=True,
                ) from None
            except openai.APIError as exc:
                raise EndpointError(f"The endpoint failed: {self._safe(exc)}", fatal=False) from None
            if not hasattr(response, "choices"):
                # The client hands back the body as text when it is not JSON: a sign-in page, a proxy's
                # page or a redirect. Say so instead of crashing on it.
                raise EndpointError(
                    "The endpoint did not answer with an OpenAI chat completion (got "
                    f"{redact(str(response), self.api_key)[:120]!r}); check the base URL.",
                    fatal=True,
                )
            if use_json:
                self.json_supported = True
            choice = response.choices[0] if response.choices else None
            usage = response.usage
            return CallResult(
                text=(choice.message.content or "") if choice else "",
                prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                json_mode=use_json,
                retries=attempt,
            )
