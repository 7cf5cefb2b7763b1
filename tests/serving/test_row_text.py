"""The text side of a decoded row, without a model: tokens are characters (token t decodes to chr(t)), so
every case below is exact. What a client receives must never contain a stop string or half of one, the
deltas must add up to the final text, and each row reports exactly one finish reason."""

from __future__ import annotations

from worker.evaluation.generation import GenerationSettings
from worker.serving.requests import Request, Row, RowText, finish_requests, held_back

EOS = 0


def _row(stop: list[str], max_new_tokens: int = 50) -> tuple[Row, list[tuple[str, str | None]], list[dict]]:
    emitted: list[tuple[str, str | None]] = []
    usage: list[dict] = []
    request = Request(
        adapter="a",
        prompt="p",
        templated=True,
        settings=GenerationSettings(max_new_tokens=max_new_tokens),
        stop=stop,
        emit=lambda _i, text, reason: emitted.append((text, reason)),
        finish=usage.append,
        fail=lambda message: emitted.append((message, "error")),
    )
    return Row(request=request, index=0), emitted, usage


def _feed(text: str, row: Row, *, then_eos: bool = False) -> None:
    row_text = RowText(lambda tokens: "".join(chr(t) for t in tokens), {EOS})
    for ch in text:
        if row.done:
            return
        row_text.advance(row, ord(ch))
    if then_eos and not row.done:
        row_text.advance(row, EOS)


def test_a_stop_string_split_over_tokens_is_held_back_then_cut() -> None:
    row, emitted, _ = _row(["END"])
    _feed("hi EN", row)
    assert "".join(t for t, _ in emitted) == "hi ", "a possible start of the stop string must be held back"
    _feed("D more", row)
    assert row.done and row.finish_reason == "stop"
    assert "".join(t for t, _ in emitted) == "hi "
    assert [r for _, r in emitted if r] == ["stop"]


def test_a_held_back_tail_that_is_not_a_stop_string_is_sent() -> None:
    row, emitted, _ = _row(["END"])
    _feed("hi ENough", row, then_eos=True)
    assert "".join(t for t, _ in emitted) == "hi ENough"
    assert [r for _, r in emitted if r] == ["stop"]


def test_the_length_limit_finishes_with_length_and_sends_everything() -> None:
    row, emitted, _ = _row([], max_new_tokens=4)
    _feed("abcdefgh", row)
    assert row.tokens == [ord(c) for c in "abcd"]
    assert "".join(t for t, _ in emitted) == "abcd"
    assert [r for _, r in emitted if r] == ["length"]


def test_a_cancelled_request_stops_without_more_text() -> None:
    row, emitted, _ = _row([])
    _feed("ab", row)
    row.request.cancelled.set()
    _feed("cd", row)
    assert row.done and row.finish_reason == "cancelled"
    assert "".join(t for t, _ in emitted) == "ab"


def test_usage_is_reported_once_when_all_rows_of_a_request_are_done() -> None:
    first, _, usage = _row([])
    second = Row(request=first.request, index=1)
    first.request.prompt_tokens = 7
    _feed("abc", first, then_eos=True)
    open_requests = {id(first.request): first.request}
    rows_of = {id(first.request): [first, second]}
    finish_requests(open_requests, rows_of)
    assert usage == [] and open_requests, "a row is still decoding"
    _feed("de", second, then_eos=True)
    finish_requests(open_requests, rows_of)
    finish_requests(open_requests, rows_of)
    assert usage == [{"prompt_tokens": 7, "completion_tokens": 5}]
    assert not open_requests


def test_held_back_tail() -> None:
    assert held_back("abc\ufffd", []) == 1
    assert held_back("hello wo", ["world"]) == 2
    assert held_back("hello", ["xyz"]) == 0


def test_a_length_cut_inside_a_character_ends_before_it() -> None:
    # Seen in the playground: a reply cut by max_new_tokens in the middle of a Chinese character (its
    # byte-level tokens half generated) ended in U+FFFD. Here the last token decodes to that character.
    row, emitted, _ = _row([], max_new_tokens=3)
    _feed("你好\ufffd", row)
    assert row.done and row.finish_reason == "length"
    assert "".join(t for t, _ in emitted) == "你好"


def test_drop_cut_character_on_a_real_half_decoded_character() -> None:
    from worker.evaluation.generation import drop_cut_character

    half = "你好".encode()[:-1].decode("utf-8", errors="replace")  # the last character's bytes, less one
    assert half.endswith("\ufffd") and drop_cut_character(half) == "你"
    assert drop_cut_character("完整的句子。") == "完整的句子。"
