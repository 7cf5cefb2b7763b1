"""A tolerant parser from a model's answer to conversations ({"role", "content"} lists).

Accepts JSON (also inside code fences, with trailing commas, or wrapped in prose) in the common shapes
(OpenAI messages, ShareGPT from/value, question/answer pairs, lists of them) and plain-text dialogues
(Q:/A:, 问：/答：, 用户：/助手：, User:/Assistant:). Anything else raises ParseError, which the generator
counts and shows as an example; it never stops a run. Pure: no web, no DB."""

from __future__ import annotations

import json
import re
from typing import Any

FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)
TRAILING_COMMA = re.compile(r",\s*([}\]])")
ROLE_NAMES = {
    "user": "user", "human": "user", "question": "user", "client": "user", "来访者": "user", "用户": "user",
    "assistant": "assistant", "gpt": "assistant", "bot": "assistant", "model": "assistant",
    "answer": "assistant", "counselor": "assistant", "counsellor": "assistant", "咨询师": "assistant",
    "助手": "assistant", "system": "system",
}  # fmt: skip
QUESTION_KEYS = ("question", "q", "user", "input", "instruction", "prompt", "query", "问题", "问")
ANSWER_KEYS = ("answer", "a", "assistant", "output", "response", "reply", "回答", "答")
LIST_KEYS = ("messages", "conversation", "conversations", "dialogue", "dialog", "turns", "data", "items")
# Plain-text speakers at the start of a line, e.g. "Q:", "问：", "用户:", "Assistant："
TEXT_TURN = re.compile(
    r"^\s*(?:\*\*)?(Q|A|Question|Answer|User|Assistant|Human|问|答|用户|助手|来访者|咨询师)(?:\*\*)?\s*[:：]\s*",
    re.I | re.M,
)
TEXT_ROLES = {"q": "user", "question": "user", "user": "user", "human": "user", "问": "user", "用户": "user",
              "来访者": "user", "a": "assistant", "answer": "assistant", "assistant": "assistant",
              "答": "assistant", "助手": "assistant", "咨询师": "assistant"}  # fmt: skip


class ParseError(ValueError):
    """The answer holds no usable conversation; the message says why (shown with the example)."""


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(TRAILING_COMMA.sub(r"\1", text))


def _json_candidates(text: str) -> list[str]:
    candidates = [m.group(1).strip() for m in FENCE.finditer(text)]
    candidates.append(text.strip())
    # Prose around the JSON: take from the first opening bracket to the last matching closing one.
    for opening, closing in (("{", "}"), ("[", "]")):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    return candidates


def _turn(item: Any) -> dict[str, str] | None:
    if not isinstance(item, dict):
        return None
    role = item.get("role", item.get("from", item.get("speaker")))
    content = item.get("content", item.get("value", item.get("text")))
    if isinstance(role, str) and isinstance(content, str):
        mapped = ROLE_NAMES.get(role.strip().lower())
        return {"role": mapped, "content": content} if mapped else None
    return None


def _pair(item: Any) -> list[dict[str, str]] | None:
    if not isinstance(item, dict):
        return None
    lowered = {str(k).lower(): v for k, v in item.items()}
    question = next((lowered[k] for k in QUESTION_KEYS if isinstance(lowered.get(k), str)), None)
    answer = next((lowered[k] for k in ANSWER_KEYS if isinstance(lowered.get(k), str)), None)
    if question is None or answer is None:
        return None
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def _conversations(value: Any) -> list[list[dict[str, str]]]:
    """Every conversation a JSON value holds, in order."""
    if isinstance(value, dict):
        for key in LIST_KEYS:
            if isinstance(value.get(key), list):
                return _conversations(value[key])
        pair = _pair(value)
        return [pair] if pair else []
    if not isinstance(value, list) or not value:
        return []
    turns = [_turn(item) for item in value]
    if all(turns):
        return [turns]  # type: ignore[list-item]
    pairs = [_pair(item) for item in value]
    if all(pairs):  # question/answer objects: one multi-turn conversation
        return [[turn for pair in pairs for turn in pair]]  # type: ignore[union-attr]
    found: list[list[dict[str, str]]] = []
    for item in value:  # a list of conversations
        found += _conversations(item)
    return found


def _from_text(text: str) -> list[list[dict[str, str]]]:
    marks = list(TEXT_TURN.finditer(text))
    if len(marks) < 2:
        return []
    turns = []
    for k, mark in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(text)
        turns.append({"role": TEXT_ROLES[mark.group(1).lower()], "content": text[mark.end() : end].strip()})
    return [turns]


def clean(conversation: list[dict[str, str]]) -> list[dict[str, str]]:
    """Merge repeated speakers, drop empty turns and a trailing question; check the shape training needs."""
    merged: list[dict[str, str]] = []
    for turn in conversation:
        content = turn["content"].strip()
        if not content:
            continue
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1] = {"role": turn["role"], "content": merged[-1]["content"] + "\n" + content}
        else:
            merged.append({"role": turn["role"], "content": content})
    system = [t for t in merged[:1] if t["role"] == "system"]
    body = [t for t in merged[len(system) :] if t["role"] != "system"]
    while body and body[-1]["role"] == "user":
        body.pop()
    if not body or body[0]["role"] != "user":
        raise ParseError("the conversation does not start with a user turn followed by an answer")
    return system + body


def parse_conversations(text: str) -> list[list[dict[str, str]]]:
    """All usable conversations in one answer. Raises ParseError when there is none."""
    if not text or not text.strip():
        raise ParseError("the answer is empty")
    found: list[list[dict[str, str]]] = []
    for candidate in _json_candidates(text):
        try:
            found = _conversations(_loads(candidate))
        except (json.JSONDecodeError, RecursionError):
            continue
        if found:
            break
    if not found:
        found = _from_text(FENCE.sub(lambda m: m.group(1), text))
    if not found:
        raise ParseError("no JSON conversation and no Q:/A: (问：/答：) dialogue found in the answer")
    conversations, last_error = [], None
    for conversation in found:
        try:
            conversations.append(clean(conversation))
        except ParseError as exc:
            last_error = exc
    if not conversations:
        raise last_error or ParseError("no usable conversation")
    return conversations
