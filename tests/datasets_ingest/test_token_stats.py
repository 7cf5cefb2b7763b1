"""Token-length statistics and the loss-mask preview with a real (locally trained) tokenizer."""

from __future__ import annotations

import pytest

from worker.datasets.token_stats import render_loss_preview, token_length_stats


def _row(i: int, *turns: str, system: str | None = None) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user" if k % 2 == 0 else "assistant", "content": t} for k, t in enumerate(turns)]
    return {"id": f"row-{i}", "messages": messages}


ROWS = [
    _row(
        0, "你好，最近我总是睡不着。", "听起来你最近压力不小，能具体说说吗？", system="你是一位心理咨询师。"
    ),
    _row(1, "What is the capital of France?", "Paris."),
    _row(2, "一加一等于几？", "二。", "那二加二呢？", "四。"),
    _row(3, "我" * 120, "嗯" * 150),
]


def _chatml(messages: list[dict]) -> str:
    # The ChatML layout written out by hand (not through the template) as the independent expectation.
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def test_token_lengths_match_the_rendered_conversation(chatml_tokenizer_dir: str) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(chatml_tokenizer_dir)
    expected = [len(tok(_chatml(r["messages"]), add_special_tokens=False)["input_ids"]) for r in ROWS]
    max_len = sorted(expected)[2]  # two rows fit, two are longer
    calls = []
    stats = token_length_stats(ROWS, chatml_tokenizer_dir, max_seq_length=max_len, bins=5,
                               progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    assert stats["rows"] == len(ROWS)
    assert stats["lengths"]["max"] == max(expected) and stats["lengths"]["min"] == min(expected)
    assert stats["lengths"]["mean"] == round(sum(expected) / len(expected), 2)
    assert stats["num_over_max"] == sum(n > max_len for n in expected) == 1
    assert stats["over_max_ids"] == [r["id"] for r, n in zip(ROWS, expected, strict=True) if n > max_len]
    assert sum(stats["histogram"]["counts"]) == len(ROWS) and len(stats["histogram"]["edges"]) == 6
    assert stats["histogram"]["edges"][-1] > max(expected)
    assert stats["num_examples"] >= len(ROWS) and stats["trained_tokens"] > 0
    assert calls[-1] == (len(ROWS), len(ROWS))


def test_loss_preview_marks_assistant_turns_only(chatml_tokenizer_dir: str) -> None:
    row = ROWS[2]
    pieces = render_loss_preview(row, chatml_tokenizer_dir, max_seq_length=512)
    assert "".join(p["text"] for p in pieces) == _chatml(row["messages"])
    trained = "".join(p["text"] for p in pieces if p["carries_loss"])
    assistant = [m for m in row["messages"] if m["role"] == "assistant"]
    # Each answer is trained together with the stop marker that ends it, nothing else is.
    assert trained == "".join(f"{m['content']}<|im_end|>\n" for m in assistant)
    assert {p["window"] for p in pieces} == {0}
    assert not any("\ufffd" in p["text"] for p in pieces)  # Chinese shows as whole characters


def test_loss_preview_of_a_long_dialogue_shows_windows(chatml_tokenizer_dir: str) -> None:
    row = _row(9, *[f"第{i}句话，" + "很长的内容" * 8 for i in range(8)])
    # Windows off: the dialogue is cut at the limit, one sequence no longer than it.
    cut = render_loss_preview(row, chatml_tokenizer_dir, max_seq_length=120, split_long_dialogues=False)
    assert {p["window"] for p in cut} == {0} and sum(len(p["ids"]) for p in cut) <= 120
    # The job default (issue #12): windows, each ending on a reply that carries loss.
    pieces = render_loss_preview(row, chatml_tokenizer_dir, max_seq_length=120)
    windows = sorted({p["window"] for p in pieces})
    assert len(windows) > 1
    for w in windows:
        assert sum(len(p["ids"]) for p in pieces if p["window"] == w) <= 120
        assert any(p["carries_loss"] for p in pieces if p["window"] == w)


def test_bad_arguments_are_refused(chatml_tokenizer_dir: str) -> None:
    with pytest.raises(ValueError, match="max_seq_length"):
        token_length_stats(ROWS, chatml_tokenizer_dir, max_seq_length=1)
    with pytest.raises(ValueError, match="no rows"):
        token_length_stats([], chatml_tokenizer_dir, max_seq_length=64)
    wrong_order = {"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}
    with pytest.raises(ValueError, match="alternate"):
        render_loss_preview(wrong_order, chatml_tokenizer_dir, max_seq_length=64)
