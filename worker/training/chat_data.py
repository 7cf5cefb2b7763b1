"""Conversations -> token ids with assistant-only labels, through the model's chat template.

How the labels are found without ``{% generation %}`` markers (which few real templates have): for every
assistant turn i we render the conversation up to it with the generation prompt (P_i) and including it (F_i).
The text between the two is exactly what the model must produce for that turn (its content and its stop
token); everything else (system, user turns, role headers) is context. Each piece is tokenised on its own
and concatenated, so label boundaries fall exactly on token boundaries. That needs the template to render
a conversation's first k messages as a prefix of the whole; we check and say so when it does not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IGNORE_INDEX = -100  # the label value torch's cross_entropy ignores (its default ignore_index)
ROLES = ("system", "user", "assistant")


class DataError(ValueError):
    """Bad training data; the message is meant for the user."""


@dataclass
class Exchange:
    """One assistant turn and the context rendered just before it (previous user turn, role headers...)."""

    context_ids: list[int]
    response_ids: list[int]

    def __len__(self) -> int:
        return len(self.context_ids) + len(self.response_ids)


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    # Where the trained exchanges start, their context (user turn, role headers) included: what
    # train_on_prompt labels too. Trained exchanges are always a suffix of an example.
    trained_context_from: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def num_trained(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)

    @property
    def num_trained_replies(self) -> int:
        """Assistant replies with at least one trained token: each is one run of labels (the user turn
        and role headers between two replies are context)."""
        runs, previous = 0, IGNORE_INDEX
        for label in self.labels:
            runs += label != IGNORE_INDEX and previous == IGNORE_INDEX
            previous = label
        return runs


@dataclass
class DataStats:
    num_rows: int = 0  # conversations read
    num_examples: int = 0  # training sequences made (windows count separately)
    num_truncated: int = 0  # conversations that lost tokens to max_seq_length
    num_empty: int = 0  # conversations dropped because no assistant token was left to train on
    num_trained_tokens: int = 0
    num_replies: int = 0  # assistant replies in the conversations
    num_replies_trained: int = 0  # of them, those with at least one trained token (truncation drops the rest)


def check_messages(messages: Any, where: str) -> list[dict[str, str]]:
    """Validate one conversation against the normalised-row contract (docs/CONTRACTS.md)."""
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: 'messages' must be a non-empty list")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise DataError(f"{where}: message {i} needs a role of {', '.join(ROLES)}")
        if not isinstance(message.get("content"), str):
            raise DataError(f"{where}: message {i} has no text content")
    body = messages[1:] if messages[0]["role"] == "system" else messages
    for i, message in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise DataError(
                f"{where}: roles must alternate user/assistant (message {i} is {message['role']})"
            )
    return messages


def load_rows(path: Path) -> list[list[dict[str, str]]]:
    """Conversations of a normalised JSONL file; DataError naming the line for anything malformed."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"the dataset file {path} does not exist")
    conversations = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path.name} line {line_no} is not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path.name} line {line_no} is not a JSON object")
            conversations.append(check_messages(row.get("messages"), f"{path.name} line {line_no}"))
    if not conversations:
        raise DataError(f"the dataset file {path.name} has no conversations")
    return conversations


def trim_to_last_assistant(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Drop trailing user turns (some dialogues end on the client speaking): nothing to learn from them."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    return messages[: last + 1]


def _render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _ids(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    # add_special_tokens=False: the template already wrote bos/eos where the model expects them.
    # One batched call: per-call overhead, not tokenising, dominated when pieces went one by one.
    if not texts:
        return []
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def exchanges(tokenizer: Any, messages: list[dict[str, str]]) -> list[Exchange]:
    """Token ids of a conversation as (context, response) pairs, one per assistant turn."""
    messages = trim_to_last_assistant(messages)
    pieces: list[str] = []
    rendered = ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:i], True)
        full = _render(tokenizer, messages[: i + 1], False)
        if not prompt.startswith(rendered) or not full.startswith(prompt):
            raise DataError(
                "this chat template re-renders earlier turns when the conversation grows, so assistant "
                "turns cannot be located; choose a fallback chat template (e.g. chatml) for this model"
            )
        pieces += [prompt[len(rendered) :], full[len(prompt) :]]
        rendered = full
    ids = _ids(tokenizer, pieces)
    return [Exchange(ids[k], ids[k + 1]) for k in range(0, len(ids), 2)]


def to_example(parts: list[Exchange], train_from: int = 0) -> Example:
    """Concatenate exchanges; responses from exchange ``train_from`` on get labels, the rest is context."""
    input_ids: list[int] = []
    labels: list[int] = []
    trained_context_from = 0
    for k, part in enumerate(parts):
        if k == train_from:
            trained_context_from = len(input_ids)
        input_ids += part.context_ids + part.response_ids
        labels += [IGNORE_INDEX] * len(part.context_ids)
        labels += part.response_ids if k >= train_from else [IGNORE_INDEX] * len(part.response_ids)
    return Example(input_ids, labels, trained_context_from)


def with_prompt_labels(example: Example) -> Example:
    """The example with its trained exchanges' context labelled too (train_on_prompt): the user turns and
    role headers of the replies it trains, never the earlier exchanges it carries only as context, so each
    user turn of a dialogue split into windows is still trained once."""
    start = example.trained_context_from
    labels = [IGNORE_INDEX] * start + example.input_ids[start:]
    return Example(example.input_ids, labels, start)


def encode_conversation(tokenizer: Any, messages: list[dict[str, str]]) -> Example:
    """The whole conversation as one example, every assistant turn trained (no length limit applied)."""
    return to_example(exchanges(tokenizer, messages))
