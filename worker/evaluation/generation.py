"""Batched generation with the course's configuration and a few presets (torch / transformers).

Why the details matter (../shared/STACK-NOTES.md "Generation"): decoder-only models must be LEFT-padded for
batched generation, and ``generate`` needs ``attention_mask``, ``pad_token_id`` and ``eos_token_id`` or it
warns ("The attention mask and the pad token id were not set") and may attend to padding. A pad id of 0 reads
as "unset" in beam search, so finished beams are filled with eos: decode with ``skip_special_tokens=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# The course's beam-search config, and sampling presets. min/max_new_tokens are the course's defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "course": {
        "num_beams": 5,
        "do_sample": False,
        "min_new_tokens": 1,
        "max_new_tokens": 128,
        "no_repeat_ngram_size": 2,
        "num_return_sequences": 3,
        "early_stopping": True,
    },
    "greedy": {"num_beams": 1, "do_sample": False, "max_new_tokens": 128},
    "sampling": {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": 50, "max_new_tokens": 128},
    "creative": {"do_sample": True, "temperature": 1.0, "top_p": 0.95, "top_k": 0, "max_new_tokens": 128},
}


class GenerationSettings(BaseModel):
    """The subset of transformers' GenerationConfig a user may set; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    num_beams: int = Field(1, ge=1, le=16)
    do_sample: bool = False
    min_new_tokens: int = Field(0, ge=0, le=4096)
    max_new_tokens: int = Field(128, ge=1, le=8192)
    no_repeat_ngram_size: int = Field(0, ge=0, le=16)
    num_return_sequences: int = Field(1, ge=1, le=16)
    temperature: float = Field(1.0, gt=0, le=5)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(50, ge=0)
    repetition_penalty: float = Field(1.0, gt=0, le=10)
    early_stopping: bool = False
    seed: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> GenerationSettings:
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError("min_new_tokens must not exceed max_new_tokens")
        if not self.do_sample and self.num_return_sequences > self.num_beams:
            raise ValueError(
                f"num_return_sequences ({self.num_return_sequences}) needs num_beams >= it when "
                "do_sample is false (beam search can only return its beams)"
            )
        return self

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``generate``. Sampling-only knobs are dropped when not sampling, so that
        transformers does not warn that ``temperature`` is set with ``do_sample=False`` (the course's config
        carries a temperature that greedy/beam search ignores anyway)."""
        kw = self.model_dump(exclude={"seed"})
        if not self.do_sample:
            for key in ("temperature", "top_p", "top_k"):
                kw.pop(key)
        if self.num_beams == 1:
            kw.pop("early_stopping")  # only meaningful for beam search; transformers warns otherwise
        return kw


def resolve_generation(
    preset: str | None = "course", overrides: dict[str, Any] | None = None
) -> GenerationSettings:
    """A preset updated by user overrides, validated. Raises ValueError naming the bad key or value."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown generation preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = dict(PRESETS[preset]) if preset else {}
    values.update(overrides or {})
    try:
        return GenerationSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid generation config: {problems}") from exc


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Left padding and a pad token (eos when the tokenizer has none), in place; returns the tokenizer."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(
                "the tokenizer has neither a pad nor an eos token; generation cannot pad a batch"
            )
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def split_row(row: dict) -> tuple[list[dict], str]:
    """A normalised row (docs/CONTRACTS.md) -> (messages before the LAST assistant turn, that turn's text)."""
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"row {row.get('id', '?')}: no messages")
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    if last is None or last == 0:
        raise ValueError(f"row {row.get('id', '?')}: needs a user turn followed by an assistant turn")
    return messages[:last], str(messages[last]["content"])


def render_prompt(tokenizer: Any, messages: list[dict]) -> tuple[str, bool]:
    """(prompt text, whether it already holds the special tokens). With a chat template: the template plus the
    generation prompt; without: the turns as plain ``role: content`` lines ending in ``assistant:``."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text, True
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"]), False


def drop_cut_character(text: str) -> str:
    """Text whose generation max_new_tokens cut inside a multi-byte character (a Chinese character is often
    two or three byte-level tokens) ends in U+FFFD, the decoding of its lone bytes: drop them."""
    return text.rstrip("\ufffd")


def generate_texts(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    settings: GenerationSettings,
    *,
    batch_size: int = 8,
    templated: bool = True,
    max_prompt_tokens: int = 2048,
    should_stop: Callable[[], bool] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[list[str]]:
    """Generate for every prompt; returns ``settings.num_return_sequences`` decoded continuations per prompt.

    ``templated``: the prompts already contain the chat template's special tokens (so none are added).
    ``should_stop`` is polled between batches (SIGTERM); the result then holds only the finished prompts.
    ``on_batch(done, total)`` reports progress after each batch. Long prompts keep their END (left
    truncation), because the question sits at the end of a chat prompt.
    """
    import torch

    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    prepare_tokenizer(tokenizer)
    tokenizer.truncation_side = "left"
    kwargs = settings.generate_kwargs()
    n_ret = settings.num_return_sequences
    eos = tokenizer.eos_token_id
    results: list[list[str]] = []
    model.eval()
    for start in range(0, len(prompts), batch_size):
        if should_stop is not None and should_stop():
            break
        batch = prompts[start : start + batch_size]
        enc = tokenizer(
            batch,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=max_prompt_tokens,
            add_special_tokens=not templated,
        ).to(model.device)
        if settings.seed is not None:
            torch.manual_seed(settings.seed + start)
        with torch.inference_mode():
            out = model.generate(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=eos,
                **kwargs,
            )
        new_tokens = out[:, enc["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        texts = [drop_cut_character(t).strip() for t in texts]
        results += [texts[i * n_ret : (i + 1) * n_ret] for i in range(len(batch))]
        if on_batch is not None:
            on_batch(len(results), len(prompts))
    return results
