"""Long dialogues become windows that end on an assistant turn; plain truncation is counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.i18n import in_english, say
from worker.training.chat_data import IGNORE_INDEX, exchanges, load_rows, trim_to_last_assistant
from worker.training.windows import build_examples, untrained_replies_warning

MAX_LEN = 384


@pytest.fixture(scope="module")
def dialogues(cpsycoun_path: Path) -> list[list[dict[str, str]]]:
    return load_rows(cpsycoun_path)[:12]


def _runs(labels: list[int]) -> list[tuple[int, int]]:
    """(start, end) of every stretch of trained tokens."""
    runs, start = [], None
    for i, label in enumerate([*labels, IGNORE_INDEX]):
        if label != IGNORE_INDEX and start is None:
            start = i
        elif label == IGNORE_INDEX and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _length(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_windows_end_on_assistant_fit_and_carry_context(dialogues: list, tiny_tokenizer: Any) -> None:
    im_end = tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    windows_with_context = 0
    for messages in dialogues:
        messages = trim_to_last_assistant(
            messages
        )  # CPsyCoun has no system prompt: exchange k = messages 2k, 2k+1
        parts = exchanges(tiny_tokenizer, messages)
        assert sum(len(p) for p in parts) > MAX_LEN  # the premise: too long for one sequence
        windows, stats = build_examples([messages], tiny_tokenizer, MAX_LEN)
        assert len(windows) > 1 and stats.num_examples == len(windows)
        next_turn = 0
        for window in windows:
            assert len(window) <= MAX_LEN
            # Ends on an assistant turn: the last tokens are the trained "<|im_end|>\n".
            assert window.labels[-1] != IGNORE_INDEX and window.input_ids[-2] == im_end
            # A window is a conversation of its own: it starts at a turn boundary.
            assert tiny_tokenizer.decode(window.input_ids[:4]).startswith("<|im_start|>user")
            trained = len(_runs(window.labels))
            start = next_turn - (window.input_ids.count(im_end) // 2 - trained)
            assert 0 <= start <= next_turn
            windows_with_context += start < next_turn
            # As much context as fits: with one more earlier exchange, even the first trained turn won't fit.
            end = next_turn + trained - 1
            if start > 0 and stats.num_truncated == 0:
                assert _length(tiny_tokenizer, messages[2 * (start - 1) : 2 * next_turn + 2]) > MAX_LEN
            next_turn = end + 1
        assert next_turn == len(parts)  # every assistant turn is trained, in order
        # Every assistant turn is trained exactly once and whole (when nothing had to be cut).
        trained_ids = [w.input_ids[a:b] for w in windows for a, b in _runs(w.labels)]
        if not stats.num_truncated:
            assert trained_ids == [p.response_ids for p in parts]
    assert windows_with_context > 0, "no window carries any earlier exchange as context"


def test_windows_train_far_more_than_truncation(dialogues: list, tiny_tokenizer: Any) -> None:
    windows, split = build_examples(dialogues, tiny_tokenizer, MAX_LEN, split_long_dialogues=True)
    cut, plain = build_examples(dialogues, tiny_tokenizer, MAX_LEN, split_long_dialogues=False)
    assert plain.num_truncated == len(dialogues) and len(cut) == len(dialogues) - plain.num_empty
    assert all(len(e) <= MAX_LEN for e in cut)
    assert split.num_trained_tokens > 2 * plain.num_trained_tokens
    assert split.num_rows == plain.num_rows == len(dialogues)


def test_replies_left_untrained_by_truncation_are_counted_and_said(
    dialogues: list, tiny_tokenizer: Any
) -> None:
    replies = sum(len(exchanges(tiny_tokenizer, m)) for m in dialogues)
    windows, split = build_examples(dialogues, tiny_tokenizer, MAX_LEN, split_long_dialogues=True)
    cut, plain = build_examples(dialogues, tiny_tokenizer, MAX_LEN, split_long_dialogues=False)
    assert split.num_replies == plain.num_replies == replies
    # Windows train every reply once (none of these 12 has an exchange longer than the limit) ...
    assert split.num_replies_trained == replies == sum(len(_runs(w.labels)) for w in windows)
    assert untrained_replies_warning(split, MAX_LEN) is None
    # ... truncation only the replies that start before the limit: the openings.
    assert plain.num_replies_trained == sum(len(_runs(e.labels)) for e in cut) < replies / 2
    said = untrained_replies_warning(plain, MAX_LEN)
    assert said is not None
    warning = in_english(said)
    assert say(said, language="zh").startswith(f"max_seq_length={MAX_LEN} 使 {replies} 条助手回复中的")
    assert warning and f"of {replies} assistant replies" in warning
    assert f"max_seq_length={MAX_LEN}" in warning and "split_long_dialogues=true" in warning
    # A short limit on short rows loses nothing: no warning.
    _, fits = build_examples(dialogues, tiny_tokenizer, 100_000, split_long_dialogues=False)
    assert fits.num_replies_trained == replies and untrained_replies_warning(fits, 100_000) is None


def test_truncated_rows_are_counted(tiny_tokenizer: Any) -> None:
    short = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    long = [{"role": "user", "content": "hi " * 80}, {"role": "assistant", "content": "ok " * 80}]
    lengths = [
        len(tiny_tokenizer.apply_chat_template(m, tokenize=True, return_dict=True)["input_ids"])
        for m in (short, long)
    ]
    max_len = (lengths[0] + lengths[1]) // 2
    examples, stats = build_examples(
        [short, long, short], tiny_tokenizer, max_len, split_long_dialogues=False
    )
    assert stats.num_truncated == 1 and stats.num_empty == 0 and len(examples) == 3
    assert [len(e) for e in examples] == [lengths[0], max_len, lengths[0]]
    # A window of one exchange longer than the limit keeps the response's start and counts as truncated.
    examples, stats = build_examples([long], tiny_tokenizer, max_len, split_long_dialogues=True)
    assert stats.num_truncated == 1 and len(examples[0]) == max_len and examples[0].num_trained > 0


def test_rows_left_without_assistant_tokens_are_empty(tiny_tokenizer: Any) -> None:
    long_question = [{"role": "user", "content": "why " * 100}, {"role": "assistant", "content": "because"}]
    examples, stats = build_examples([long_question], tiny_tokenizer, 32, split_long_dialogues=False)
    assert examples == [] and stats.num_empty == 1 and stats.num_truncated == 1


def test_system_prompt_is_kept_in_every_window(tiny_tokenizer: Any) -> None:
    system = {"role": "system", "content": "SYSTEM PROMPT"}
    body = []
    for i in range(12):
        body += [
            {"role": "user", "content": f"question {i} " * 6},
            {"role": "assistant", "content": f"answer {i} " * 6},
        ]
    windows, stats = build_examples([[system, *body]], tiny_tokenizer, 160)
    assert len(windows) > 2 and stats.num_truncated == 0
    assert all(
        tiny_tokenizer.decode(w.input_ids).startswith("<|im_start|>system\nSYSTEM PROMPT") for w in windows
    )
    assert trim_to_last_assistant([*body, {"role": "user", "content": "x"}]) == body


def test_opening_weight_repeats_only_the_opening_window_of_split_dialogues(
    dialogues: list, tiny_tokenizer: Any
) -> None:
    short = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    conversations = [dialogues[0], short, dialogues[1]]
    plain, plain_stats = build_examples(conversations, tiny_tokenizer, MAX_LEN)
    weighted, stats = build_examples(conversations, tiny_tokenizer, MAX_LEN, opening_weight=3)
    first_windows = len(build_examples(conversations[:1], tiny_tokenizer, MAX_LEN)[0])
    opening, short_example = plain[0], plain[first_windows]
    assert len(weighted) == len(plain) + 2 * 2  # two long dialogues, two extra copies of each opening
    assert sum(e.input_ids == opening.input_ids for e in weighted) == 3
    assert sum(e.input_ids == short_example.input_ids for e in weighted) == 1  # fits whole: not a window
    # Nothing else is added or lost: the same distinct windows.
    assert sorted(map(tuple, (e.input_ids for e in plain))) == sorted({tuple(e.input_ids) for e in weighted})
    # What the job page reports: examples include the copies, trained replies count each reply once.
    assert (
        stats.num_examples == len(weighted) and stats.num_replies_trained == plain_stats.num_replies_trained
    )
    assert stats.num_trained_tokens == plain_stats.num_trained_tokens + 2 * (
        opening.num_trained + plain[first_windows + 1].num_trained
    )
    # Truncation makes one example per dialogue: nothing to weight.
    cut, _ = build_examples(conversations, tiny_tokenizer, MAX_LEN, split_long_dialogues=False)
    cut_weighted, _ = build_examples(
        conversations, tiny_tokenizer, MAX_LEN, split_long_dialogues=False, opening_weight=3
    )
    assert len(cut_weighted) == len(cut)


def _child_config(**hyperparameters: Any) -> Any:
    """A training child's RunConfig for its data setup alone (paths unused), at this module's length."""
    from worker.training.config import RunConfig

    return RunConfig(
        run_dir="unused",
        base_model={"path": "unused"},
        dataset={"train_path": "unused"},
        hyperparameters={**hyperparameters, "max_seq_length": MAX_LEN},
    )


def test_the_child_weights_openings_in_training_only(dialogues: list, tiny_tokenizer: Any) -> None:
    """sft's data setup passes opening_weight to the training split; validation scores every window once."""
    from worker.training.sft import _setup_data

    def rows(weight: int, split: str) -> list:
        return _setup_data(
            _child_config(opening_weight=weight), tiny_tokenizer, dialogues[:2], split, "rows"
        )[0]

    plain, weighted, validation = rows(1, "training"), rows(3, "training"), rows(3, "validation")
    assert len(weighted) == len(plain) + 2 * 2 and len(validation) == len(plain)


def test_train_on_prompt_labels_each_user_turn_once_with_its_reply(
    dialogues: list, tiny_tokenizer: Any
) -> None:
    short = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    conversations = [*dialogues, short]
    plain, plain_stats = build_examples(conversations, tiny_tokenizer, MAX_LEN)
    prompted, stats = build_examples(conversations, tiny_tokenizer, MAX_LEN, train_on_prompt=True)
    assert [e.input_ids for e in prompted] == [e.input_ids for e in plain]  # the same windows
    for before, after in zip(plain, prompted, strict=True):
        trained = [i for i, label in enumerate(after.labels) if label != IGNORE_INDEX]
        # One stretch: from the first trained reply's user turn to the window's end, labels = the tokens.
        assert trained == list(range(after.trained_context_from, len(after)))
        assert all(after.labels[i] == after.input_ids[i] for i in trained)
        # It covers every reply trained before, and adds only the context those replies follow.
        assert trained[0] < _runs(before.labels)[0][0]
        assert all(after.labels[i] == label for i, label in enumerate(before.labels) if label != IGNORE_INDEX)
    # Later windows carry earlier exchanges as untrained context; a dialogue that fits whole trains from
    # its first token (with a system prompt, that too: as the bare scripts train every token).
    assert any(e.trained_context_from > 0 for e in prompted) and prompted[-1].trained_context_from == 0
    # Each user turn of a dialogue split into windows is trained exactly once across its windows.
    for messages in dialogues[:4]:
        windows, split = build_examples([messages], tiny_tokenizer, MAX_LEN, train_on_prompt=True)
        assert split.num_examples > 1 and split.num_truncated == 0
        trained_text = "\n".join(
            tiny_tokenizer.decode([t for t in w.labels if t != IGNORE_INDEX]) for w in windows
        )
        turns = [m["content"] for m in messages if m["role"] == "user" and len(m["content"]) > 20]
        assert turns and all(trained_text.count(turn) == 1 for turn in turns)
    # The job page's counts: replies stay replies; trained tokens include the prompts.
    assert stats.num_replies_trained == plain_stats.num_replies_trained
    assert stats.num_trained_tokens > plain_stats.num_trained_tokens
    # Truncation keeps the labels of what is left.
    cut, _ = build_examples(
        conversations, tiny_tokenizer, MAX_LEN, split_long_dialogues=False, train_on_prompt=True
    )
    assert cut[0].labels == cut[0].input_ids and len(cut[0]) == MAX_LEN


def test_the_child_trains_prompts_in_training_only(dialogues: list, tiny_tokenizer: Any) -> None:
    """Validation loss stays on the replies whatever train_on_prompt says."""
    from worker.training.sft import _setup_data

    config = _child_config(train_on_prompt=True)

    def trained(split: str) -> int:
        rows = _setup_data(config, tiny_tokenizer, dialogues[:2], split, "rows")[0]
        return sum(label != IGNORE_INDEX for row in rows for label in row["labels"])

    plain = build_examples(dialogues[:2], tiny_tokenizer, MAX_LEN)[1].num_trained_tokens
    assert trained("validation") == plain < trained("training")
