"""Checking turns against the internal conversation form (docs/CONTRACTS.md) and building messages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.datasets.ingest.formats import Turn
from app.datasets.ingest.schema import RowError

# A lone UTF-16 surrogate ("\ud800" in JSON) is a str Python holds but cannot write as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: str, field: str) -> str:
    if _SURROGATE.search(value):
        raise RowError(field, "the text holds a lone UTF-16 surrogate (like \\ud800): not valid Unicode")
    return value


@dataclass
class Checked:
    messages: list[dict]
    dropped_trailing_user: bool = False


def content_text(value: object, field: str) -> str:
    """Content as text: strings as they are, spreadsheet numbers as text, typed text parts joined."""
    if isinstance(value, str):
        return _text(value, field)
    if value is None:
        return ""
    if isinstance(value, bool):
        raise RowError(field, "content must be text, not true/false")
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, list):
        # OpenAI typed parts use {"type": "text", "text": ...}; LLaMA-Factory v1 uses "value" instead.
        pieces = []
        for i, part in enumerate(value):
            if not isinstance(part, dict):
                raise RowError(f"{field}[{i}]", "a content part must be an object")
            kind = part.get("type", "text")
            if kind != "text":
                raise RowError(f"{field}[{i}]", f"content of type {kind!r} is not supported (text only)")
            text = part.get("text", part.get("value"))
            if not isinstance(text, str):
                raise RowError(f"{field}[{i}]", "a text part has no text")
            pieces.append(_text(text, f"{field}[{i}]"))
        return "".join(pieces)
    raise RowError(field, "content must be text")


def check_turns(turns: list[Turn], *, max_chars: int | None = None) -> Checked:
    """Validate and convert; a conversation that ends on user turns loses them (they have no answer)."""
    messages: list[dict] = []
    dropped = False
    ends_on_one_user_turn = len(turns) > 1 and turns[-1][0] == "user" and turns[-2][0] != "user"
    if ends_on_one_user_turn and any(t[0] == "assistant" for t in turns):
        # Checked before the turn's content, so an empty trailing question does not invalidate the row.
        turns = turns[:-1]
        dropped = True
    for index, (role, raw, field) in enumerate(turns):
        text = content_text(raw, field)
        if role == "system":
            if index != 0:
                raise RowError(field, "a system turn is allowed only at the start")
            if text.strip():
                messages.append({"role": "system", "content": text})
            continue
        expected = "user" if not messages or messages[-1]["role"] != "user" else "assistant"
        if role != expected:
            if not messages or messages[-1]["role"] == "system":
                raise RowError(field, "wrong role order: the conversation must start with a user turn")
            raise RowError(field, f"wrong role order: two {role} turns in a row")
        if not text.strip():
            raise RowError(field, "empty answer" if role == "assistant" else "empty question")
        messages.append({"role": role, "content": text})
    if not any(m["role"] == "assistant" for m in messages):
        raise RowError(turns[-1][2] if turns else "row", "no assistant turn")
    if max_chars is not None:
        total = sum(len(m["content"]) for m in messages)
        if total > max_chars:
            raise RowError("row", f"too long: {total:,} characters, over the limit of {max_chars:,}")
    return Checked(messages=messages, dropped_trailing_user=dropped)
