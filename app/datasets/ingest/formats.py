"""Recognising a row format and turning one raw record into (role, content, source field) turns.

Choices for formats the internal form has no slot for (documented in docs, shown to users as notes):
- preference sets (ShareGPT `chosen`/`rejected`, e.g. LLaMA-Factory dpo_zh_demo): the `chosen` answer
  becomes the assistant turn (SFT on the preferred answer); `rejected` is not used.
- tool calls (`function_call` / `observation` turns, glaive_toolcall): a function call is an assistant turn
  (the model learns to emit the call), an observation is a user turn (the tool's answer arrives as input),
  and the row's `tools` definitions are prepended to the system prompt so the calls stay grounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from app.datasets.ingest.schema import FORMATS, IngestError, RowError

Turn = tuple[str, object, str]  # (role, raw content, field path in the user's own terms)

USER_ROLES = {"user", "human", "observation", "tool", "function", "ipython"}
ASSISTANT_ROLES = {"assistant", "gpt", "bot", "model", "chatgpt", "function_call"}
SYSTEM_ROLES = {"system"}
TOOL_ROLES = {"observation", "tool", "function", "ipython", "function_call"}

# Column names recognised for prompt/response pairs (CSV/xlsx exports), first match wins.
PROMPT_ALIASES = ("prompt", "question", "query", "q", "input", "问题", "提问", "输入", "问")
RESPONSE_ALIASES = ("response", "answer", "completion", "a", "output", "回答", "答案", "回复", "输出", "答")
SYSTEM_ALIASES = ("system", "system_prompt", "系统", "系统提示")

# Default field names per format; IngestOptions.mapping overrides any of them (canonical -> column).
DEFAULT_FIELDS: dict[str, dict[str, str]] = {
    "alpaca": {"instruction": "instruction", "input": "input", "output": "output", "system": "system",
               "history": "history"},
    "sharegpt": {"conversations": "conversations", "role": "from", "content": "value", "system": "system",
                 "tools": "tools", "chosen": "chosen"},
    "messages": {"messages": "messages", "role": "role", "content": "content", "tools": "tools"},
    "xtuner": {"conversation": "conversation", "system": "system", "input": "input", "output": "output"},
    "prompt_response": {"prompt": "prompt", "response": "response", "system": "system"},
}  # fmt: skip


def _first_key(keys: Iterable[str], aliases: tuple[str, ...]) -> str | None:
    lowered = {k.strip().lower(): k for k in keys}
    return next((lowered[a] for a in aliases if a in lowered), None)


def _first_item_has(value: object, key: str) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and key in value[0]


def _matches(fmt: str, record: dict, fields: dict[str, str]) -> bool:
    if fmt == "alpaca":
        return fields["instruction"] in record and fields["output"] in record
    if fmt == "sharegpt":
        return _first_item_has(record.get(fields["conversations"]), fields["role"])
    if fmt == "messages":
        return _first_item_has(record.get(fields["messages"]), fields["role"])
    if fmt == "xtuner":
        return _first_item_has(record.get(fields["conversation"]), fields["input"])
    return fields["prompt"] in record and fields["response"] in record


def resolve_fields(fmt: str, mapping: dict[str, str] | None, sample: list[dict]) -> dict[str, str]:
    """The field names to read for `fmt`: defaults, then aliases seen in the data, then the user's mapping."""
    fields = dict(DEFAULT_FIELDS[fmt])
    if fmt == "sharegpt" and sample:
        # ShareGPT files sometimes use role/content inside `conversations` (LLaMA-Factory allows both).
        conv = next((r.get(fields["conversations"]) for r in sample if r.get(fields["conversations"])), None)
        if isinstance(conv, list) and conv and isinstance(conv[0], dict) and "role" in conv[0]:
            fields.update(role="role", content="content")
    if fmt == "prompt_response" and sample:
        keys = set().union(*(r.keys() for r in sample[:50]))
        for canonical, aliases in (("prompt", PROMPT_ALIASES), ("response", RESPONSE_ALIASES),
                                   ("system", SYSTEM_ALIASES)):  # fmt: skip
            found = _first_key(keys, aliases)
            if found is not None:
                fields[canonical] = found
    if mapping:
        unknown = sorted(set(mapping) - set(fields))
        if unknown:
            raise IngestError(
                f"the mapping names {', '.join(unknown)}, which the {fmt} format does not have; "
                f"it has {', '.join(fields)}",
                field="mapping",
            )
        fields.update(mapping)
    return fields


def detect_format(sample: list[dict], mapping: dict[str, str] | None) -> str:
    """The format most sampled records match; raise IngestError when none fits."""
    scores = {}
    for fmt in FORMATS:
        try:
            fields = resolve_fields(fmt, mapping, sample)
        except IngestError:
            continue  # the user's mapping names fields of another format
        scores[fmt] = sum(_matches(fmt, r, fields) for r in sample)
    best = max(scores, key=lambda f: scores[f], default=None)
    if best is None or scores[best] == 0:
        columns = sorted(set().union(*(r.keys() for r in sample[:50])))[:20] if sample else []
        raise IngestError(
            "could not recognise the row format (Alpaca, ShareGPT, OpenAI messages, xtuner conversation, "
            f"prompt/response columns); the rows have the fields: {', '.join(map(str, columns)) or 'none'}. "
            "Choose the format and map the columns.",
            field="format",
        )
    return best


def _role(value: object, field: str) -> str:
    role = str(value).strip().lower() if isinstance(value, str) else ""
    if role in USER_ROLES:
        return "user"
    if role in ASSISTANT_ROLES:
        return "assistant"
    if role in SYSTEM_ROLES:
        return "system"
    raise RowError(field, f"unknown role {value!r} (expected system, user/human, assistant/gpt)")


def _tools_text(tools: object) -> str | None:
    if tools in (None, "", []):
        return None
    text = tools if isinstance(tools, str) else json.dumps(tools, ensure_ascii=False)
    return "Available tools (JSON):\n" + text


def _turn_list(record: dict, key: str, role_key: str, content_key: str) -> list[Turn]:
    items = record.get(key)
    if not isinstance(items, list) or not items:
        raise RowError(key, "missing or empty list of turns")
    turns: list[Turn] = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise RowError(where, "a turn must be an object")
        if role_key not in item:
            raise RowError(f"{where}.{role_key}", "missing role")
        role = _role(item[role_key], f"{where}.{role_key}")
        turns.append((role, item.get(content_key), f"{where}.{content_key}"))
    return turns


def normalise_record(record: dict, fmt: str, fields: dict[str, str]) -> list[Turn]:
    """One raw record -> turns (not yet validated); raise RowError naming the field at fault."""
    f = fields
    if fmt in ("sharegpt", "messages"):
        key = f["conversations"] if fmt == "sharegpt" else f["messages"]
        turns = _turn_list(record, key, f["role"], f["content"])
        system = record.get(f.get("system", "")) if fmt == "sharegpt" else None
        if system not in (None, "") and turns[0][0] != "system":
            turns.insert(0, ("system", system, f["system"]))
        tools = _tools_text(record.get(f["tools"]))
        if tools:
            if turns[0][0] == "system":
                turns[0] = ("system", f"{_text_or_empty(turns[0][1])}\n\n{tools}".strip(), turns[0][2])
            else:
                turns.insert(0, ("system", tools, f["tools"]))
        chosen = record.get(f.get("chosen", "")) if fmt == "sharegpt" else None
        if chosen is not None and turns[-1][0] == "user":
            value = chosen.get(f["content"]) if isinstance(chosen, dict) else chosen
            turns.append(("assistant", value, f["chosen"]))
        return turns
    if fmt == "xtuner":
        items = record.get(f["conversation"])
        if not isinstance(items, list) or not items:
            raise RowError(f["conversation"], "missing or empty list of turns")
        turns = []
        for i, item in enumerate(items):
            where = f"{f['conversation']}[{i}]"
            if not isinstance(item, dict):
                raise RowError(where, "a turn must be an object")
            system = item.get(f["system"])
            if system not in (None, ""):
                if i > 0:
                    raise RowError(f"{where}.{f['system']}", "a system prompt belongs in the first turn only")
                turns.append(("system", system, f"{where}.{f['system']}"))
            for canonical, role in (("input", "user"), ("output", "assistant")):
                if f[canonical] not in item:
                    raise RowError(f"{where}.{f[canonical]}", "missing field")
                turns.append((role, item[f[canonical]], f"{where}.{f[canonical]}"))
        return turns
    if fmt == "alpaca":
        return _alpaca_turns(record, f)
    for canonical in ("prompt", "response"):
        if f[canonical] not in record:
            raise RowError(f[canonical], "missing field")
    turns = []
    if record.get(f["system"]) not in (None, ""):
        turns.append(("system", record[f["system"]], f["system"]))
    turns.append(("user", record[f["prompt"]], f["prompt"]))
    turns.append(("assistant", record[f["response"]], f["response"]))
    return turns


def _text_or_empty(value: object) -> str:
    return value if isinstance(value, str) else ""


def _alpaca_turns(record: dict, f: dict[str, str]) -> list[Turn]:
    for canonical in ("instruction", "output"):
        if f[canonical] not in record:
            raise RowError(f[canonical], "missing field")
    turns: list[Turn] = []
    if record.get(f["system"]) not in (None, ""):
        turns.append(("system", record[f["system"]], f["system"]))
    history = record.get(f["history"]) or []
    if not isinstance(history, list):
        raise RowError(f["history"], "history must be a list of [question, answer] pairs")
    for i, pair in enumerate(history):
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise RowError(f"{f['history']}[{i}]", "each history entry must be a [question, answer] pair")
        turns.append(("user", pair[0], f"{f['history']}[{i}][0]"))
        turns.append(("assistant", pair[1], f"{f['history']}[{i}][1]"))
    instruction, extra = record.get(f["instruction"]), record.get(f["input"])
    if isinstance(instruction, int | float) and not isinstance(instruction, bool):
        instruction = str(instruction)  # a spreadsheet cell holding a number
    if isinstance(instruction, str) and isinstance(extra, str) and extra.strip():
        prompt: object = f"{instruction}\n{extra}" if instruction.strip() else extra
    else:
        prompt = instruction
    turns.append(("user", prompt, f["instruction"]))
    turns.append(("assistant", record.get(f["output"]), f["output"]))
    return turns
