"""Fit conversations into max_seq_length: training windows for long dialogues, or plain truncation.

Windows (split_long_dialogues=True, the default: measured better over whole dialogues than truncation,
app/jobs/hyperparameters.py). A counselling dialogue is far longer than a small model's context, and
cutting it at the limit would train only its first exchanges. Instead each assistant turn is trained exactly
once, in a window that
  * ends on an assistant turn,
  * starts with the system prompt (kept in every window) and then as many whole earlier exchanges as fit
    before that turn, as untrained context (the most context the turn can have at this length),
  * is re-rendered through the chat template as a conversation of its own, so it is well-formed chat.
Consecutive turns whose longest-fitting context starts at the same exchange share one window (each still
sees all the context it would see alone), so a dialogue whose opening fits is one window for the opening
plus one per later turn. Window lengths are estimated from the whole conversation's per-exchange lengths
and checked on the real rendering (dropping context if the estimate was short): one rendering per window is
the common case.

An exchange that alone is longer than max_seq_length is cut: the response is kept from its start, with as
much of the nearest context as fits (at least a quarter of the window when there is context); such rows count
as truncated.
"""

from __future__ import annotations

from typing import Any

from app.i18n import sentence
from worker.training.chat_data import (
    IGNORE_INDEX,
    DataError,
    DataStats,
    Example,
    exchanges,
    to_example,
    trim_to_last_assistant,
    with_prompt_labels,
)


def truncate(example: Example, max_len: int) -> Example:
    """Plain truncation at the length limit (what split_long_dialogues=False does)."""
    return Example(
        example.input_ids[:max_len], example.labels[:max_len], min(example.trained_context_from, max_len)
    )


def cut_single_exchange(example: Example, max_len: int) -> Example:
    """Fit one (context, response) example into max_len: the response's start and the nearest context."""
    start = next((i for i, label in enumerate(example.labels) if label != IGNORE_INDEX), len(example))
    context_len, response_len = start, len(example) - start
    keep_context = min(context_len, max(max_len - response_len, max_len // 4))
    keep_response = max_len - keep_context
    lo, hi = start - keep_context, start + keep_response
    return Example(example.input_ids[lo:hi], example.labels[lo:hi], max(0, example.trained_context_from - lo))


class _Windower:
    """Windows of one conversation (system prompt + user/assistant exchanges)."""

    def __init__(
        self, tokenizer: Any, messages: list[dict[str, str]], max_len: int, parts: list | None = None
    ):
        self.tokenizer = tokenizer
        self.max_len = max_len
        messages = trim_to_last_assistant(messages)
        self.system = messages[:1] if messages and messages[0]["role"] == "system" else []
        self.body = messages[len(self.system) :]
        self.parts = parts if parts is not None else exchanges(tokenizer, messages)
        self.lengths = [len(part) for part in self.parts]

    def encode(self, start: int, end: int, train_from: int) -> Example:
        """Exchanges start..end (inclusive) as a conversation; responses from train_from on are trained."""
        window = self.system + self.body[2 * start : 2 * end + 2]
        return to_example(exchanges(self.tokenizer, window), train_from - start)

    def head_overhead(self) -> int:
        """Extra tokens the first exchange of a window carries (system prompt, bos...) over a middle one."""
        if len(self.parts) < 2:
            return 0
        return max(0, len(self.encode(1, 1, 1)) - self.lengths[1])

    def context_starts(self) -> list[int]:
        """For every exchange j, the earliest exchange a window ending at j can start at (estimated lengths).

        Non-decreasing in j; an exchange too long to fit even alone gets itself as start.
        """
        head = self.head_overhead()
        starts: list[int] = []
        start, total = 0, 0
        for j, length in enumerate(self.lengths):
            total += length
            while start < j and total + (head if start > 0 else 0) > self.max_len:
                total -= self.lengths[start]
                start += 1
            starts.append(start)
        return starts

    def windows(self) -> tuple[list[Example], bool]:
        """Exchanges that share the same earliest start share a window ending at the last of them: each
        turn then still sees all the context it could see in a window of its own, with fewer windows."""
        examples: list[Example] = []
        truncated = False
        starts = self.context_starts()
        j = 0
        while j < len(self.parts):
            first, start = j, starts[j]
            while j + 1 < len(self.parts) and starts[j + 1] == start:
                j += 1
            example = self.encode(start, j, first)
            while len(example) > self.max_len and start < first:
                start += 1  # the estimate was short (a template adds per-window tokens): drop context
                example = self.encode(start, j, first)
            if len(example) > self.max_len and j > first:
                # Still too long with several trained turns: train them one per window instead.
                j = first
                example = self.encode(start, j, first)
            if len(example) > self.max_len:
                example = cut_single_exchange(example, self.max_len)
                truncated = True
            if example.num_trained:
                examples.append(example)
            else:
                truncated = True
            j += 1
        return examples, truncated


# Share of assistant replies left untrained by truncation above which the job says so (a warning event on
# the job page): with CPsyCoun at 384 tokens (demo model) truncation trains 27 % of the replies, and on
# held-out later replies it scored BLEU-4 3.6 against windows' 7.1 (benchmarks/results/quality_later.json).
UNTRAINED_REPLIES_WARNING = 0.25


def untrained_replies_warning(stats: DataStats, max_len: int) -> dict | None:
    """What the user should know when max_seq_length cuts away many replies (an app.i18n sentence): None
    when few are lost."""
    untrained = stats.num_replies - stats.num_replies_trained
    if not stats.num_replies or untrained / stats.num_replies < UNTRAINED_REPLIES_WARNING:
        return None
    return sentence(
        "max_seq_length={limit} leaves {untrained} of {replies} assistant replies ({share:.0%}) untrained: "
        "conversations longer than the limit are cut, so only their opening turns train and the model "
        "learns little about later turns. split_long_dialogues=true trains every reply once, with the "
        "recent context that fits.",
        limit=max_len,
        untrained=untrained,
        replies=stats.num_replies,
        share=untrained / stats.num_replies,
    )


def build_examples(
    conversations: list[list[dict[str, str]]],
    tokenizer: Any,
    max_len: int,
    *,
    split_long_dialogues: bool = True,
    opening_weight: int = 1,
    train_on_prompt: bool = False,
) -> tuple[list[Example], DataStats]:
    """Training examples of all conversations, and counts the user sees (rows, windows, truncated, empty).

    opening_weight > 1 repeats the opening window of every conversation that was split into windows that
    many times (a repeated window counts in num_examples and num_trained_tokens, not in num_replies_trained).
    train_on_prompt labels the user turns of the trained replies too (chat_data.with_prompt_labels): they
    count in num_trained_tokens; num_replies_trained still counts assistant replies.
    """
    if max_len < 2:
        raise DataError(f"max_seq_length {max_len} is too small to hold any conversation")
    stats = DataStats(num_rows=len(conversations))
    examples: list[Example] = []
    for messages in conversations:
        parts = exchanges(tokenizer, messages)
        whole = to_example(parts)
        extra_openings = 0  # copies of the opening window: only a dialogue split into windows has one
        if len(whole) <= max_len:
            made, truncated = [whole], False
        elif split_long_dialogues:
            made, truncated = _Windower(tokenizer, messages, max_len, parts).windows()
            extra_openings = opening_weight - 1
        else:
            made, truncated = [truncate(whole, max_len)], True
        made = [example for example in made if example.num_trained]
        stats.num_replies += len(parts)
        stats.num_replies_trained += sum(example.num_trained_replies for example in made)
        if train_on_prompt:
            made = [with_prompt_labels(example) for example in made]
        stats.num_truncated += truncated
        if not made:
            stats.num_empty += 1
        examples += made[:1] * extra_openings + made
    stats.num_examples = len(examples)
    stats.num_trained_tokens = sum(example.num_trained for example in examples)
    return examples, stats
