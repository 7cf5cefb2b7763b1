"""What the serving engine decodes: requests, their rows, and the text-side rules of a row (stop strings,
held-back tails, finish reasons). No torch here: the engine owns the tensors, this module the text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.evaluation.generation import GenerationSettings, drop_cut_character

BASE = "__base__"  # the adapter name meaning "the base model, adapters off"


class ModelLoadFailed(RuntimeError):
    pass


@dataclass
class Request:
    """A prompt to continue. ``emit(index, text_delta, finish_reason)`` is called from the decoding
    thread for every piece of text; ``finish(usage)`` once at the end; ``fail(message)`` on error."""

    adapter: str
    prompt: str
    templated: bool
    settings: GenerationSettings
    stop: list[str]
    emit: Callable[[int, str, str | None], None]
    finish: Callable[[dict[str, int]], None]
    fail: Callable[[str], None]
    n: int = 1  # rows to generate (OpenAI's n; greedy n>1 repeats the same row)
    prompt_tokens: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def batchable(self) -> bool:
        s = self.settings
        return s.num_beams == 1 and s.no_repeat_ngram_size == 0


# Asked between decoding steps with the free room; returns requests that join the running batch.
Admit = Callable[[int], list[Request]]


@dataclass
class Row:
    """One sequence being generated (a request with n=2 has two rows)."""

    request: Request
    index: int
    generator: Any = None  # torch.Generator of a sampling row
    prompt_ids: list[int] = field(default_factory=list)  # for the repetition penalty
    tokens: list[int] = field(default_factory=list)
    sent: str = ""
    done: bool = False
    finish_reason: str | None = None


class RowText:
    """Turns a row's tokens into streamed text: decodes, cuts at stop strings, holds back a tail that may
    still become a stop string or a whole UTF-8 character, and reports the finish reason once."""

    def __init__(self, decode: Callable[[list[int]], str], eos_ids: set[int]) -> None:
        self.decode = decode
        self.eos_ids = eos_ids

    def advance(self, row: Row, token: int) -> None:
        request = row.request
        if request.cancelled.is_set():
            row.done, row.finish_reason = True, "cancelled"
            return
        if token in self.eos_ids:
            self.finish(row, "stop")
            return
        row.tokens.append(token)
        text = self.decode(row.tokens)
        cut, reason = apply_stop(text, request.stop)
        if reason:  # a stop string wins over the length limit
            self._close(row, cut, reason)
            return
        if len(row.tokens) >= request.settings.max_new_tokens:
            self._close(row, drop_cut_character(cut), "length")
            return
        # Hold back an unfinished UTF-8 character and any tail that might be the start of a stop string.
        safe = len(text) - held_back(text, request.stop)
        if safe > len(row.sent):
            _emit(row, text[len(row.sent) : safe])
            row.sent = text[:safe]

    def finish(self, row: Row, reason: str) -> None:
        """End the row now (end of sequence): send what was held back, up to any stop string."""
        self._close(row, apply_stop(self.decode(row.tokens), row.request.stop)[0], reason)

    def _close(self, row: Row, final_text: str, reason: str) -> None:
        _emit(row, final_text[len(row.sent) :])
        row.sent = final_text
        row.done, row.finish_reason = True, reason
        row.request.emit(row.index, "", reason)


def finish_requests(open_requests: dict[int, Request], rows_of: dict[int, list[Row]]) -> None:
    """Report usage for every open request whose rows are all done, and close it."""
    for key, request in list(open_requests.items()):
        rows = rows_of[key]
        if all(r.done for r in rows):
            completion = sum(len(r.tokens) for r in rows)
            request.finish({"prompt_tokens": request.prompt_tokens, "completion_tokens": completion})
            del open_requests[key]


def _emit(row: Row, delta: str) -> None:
    if delta:
        row.request.emit(row.index, delta, None)


def apply_stop(text: str, stop: list[str]) -> tuple[str, str | None]:
    """Text cut before the first stop string, and "stop" when one was found."""
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return (text[:cut], "stop") if cut >= 0 else (text, None)


def held_back(text: str, stop: list[str]) -> int:
    """How many trailing characters to keep unsent: a half-decoded character, or a possible stop prefix."""
    if text.endswith("\ufffd"):
        return len(text) - len(text.rstrip("\ufffd"))
    longest = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                longest = max(longest, k)
                break
    return longest
