"""OpenAI request shapes and their translation into the course's GenerationSettings (pure pydantic)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from worker.evaluation.generation import GenerationSettings, resolve_generation


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = ""

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI content parts: keep the text ones
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class _Common(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenAI clients send fields we do not use (user, logit_bias)
    model: str
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=16)
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    # FT Studio's extension (the playground): a preset and any GenerationSettings field.
    generation: dict[str, Any] | None = None
    preset: str | None = None

    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop if s][:4]

    def settings(self) -> tuple[GenerationSettings, int]:
        """(settings, rows). OpenAI semantics unless ``generation``/``preset`` is given: temperature 0 is
        greedy (n copies of one answer), anything else samples with top_k off, as OpenAI does."""
        if self.generation is not None or self.preset is not None:
            settings = resolve_generation(self.preset, self.generation or {})
            return settings, settings.num_return_sequences
        temperature = 1.0 if self.temperature is None else self.temperature
        values: dict[str, Any] = {
            "max_new_tokens": self.max_completion_tokens or self.max_tokens or 256,
            "seed": self.seed,
        }
        if temperature == 0:
            values.update(do_sample=False)
        else:
            values.update(
                do_sample=True,
                temperature=temperature,
                top_p=self.top_p if self.top_p is not None else 1.0,
                top_k=0,
                num_return_sequences=self.n,
            )
        return GenerationSettings(**values), self.n


class ChatRequest(_Common):
    messages: list[Message] = Field(min_length=1)


class CompletionRequest(_Common):
    prompt: str | list[str]

    def prompt_text(self) -> str:
        if isinstance(self.prompt, list):
            if len(self.prompt) != 1:
                raise ValueError("prompt: send one prompt per request")
            return self.prompt[0]
        return self.prompt
