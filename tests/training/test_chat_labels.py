"""Assistant-only labels through chat templates, checked token by token on real renderings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from worker.training.chat_data import IGNORE_INDEX, DataError, check_messages, encode_conversation, load_rows
from worker.training.templates import FALLBACK_TEMPLATES, choose_chat_template, guess_fallback

DIALOGUE = [
    {"role": "system", "content": "你是一位耐心的心理咨询师。"},
    {"role": "user", "content": "我最近总是睡不着。"},
    {"role": "assistant", "content": "听起来你很辛苦，能说说发生了什么吗？"},
    {"role": "user", "content": "Work has been stressful."},
    {"role": "assistant", "content": "Let us look at what makes work stressful, one thing at a time."},
]

# What each template must put after an assistant's content (the stop the model learns), eos = <|im_end|> here.
STOPS = {
    "chatml": "<|im_end|>\n",
    "baichuan2": "<|im_end|>",
    "llama2": " <|im_end|>",
    "llama3": "<|eot_id|>",
    "chatglm3": "<|im_end|>",
}


def labelled_runs(ids: list[int], labels: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    previous = False
    for token, label in zip(ids, labels, strict=True):
        if label != IGNORE_INDEX:
            assert label == token, "a label must be the input token itself (the model shifts)"
            if not previous:
                runs.append([])
            runs[-1].append(token)
        previous = label != IGNORE_INDEX
    return runs


def test_chatml_labels_token_by_token(tiny_tokenizer: Any) -> None:
    example = encode_conversation(tiny_tokenizer, DIALOGUE)
    text = tiny_tokenizer.apply_chat_template(DIALOGUE, tokenize=False)
    encoded = tiny_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    # Piecewise tokenisation must give exactly the tokens of the whole rendered text.
    assert example.input_ids == encoded["input_ids"]
    # Expected trained character spans, found independently in the rendered text: content + "<|im_end|>\n".
    spans = []
    for message in DIALOGUE:
        if message["role"] == "assistant":
            start = text.index("<|im_start|>assistant\n" + message["content"]) + len(
                "<|im_start|>assistant\n"
            )
            spans.append((start, start + len(message["content"]) + len("<|im_end|>\n")))
    for token, label, (begin, _) in zip(
        example.input_ids, example.labels, encoded["offset_mapping"], strict=True
    ):
        inside = any(lo <= begin < hi for lo, hi in spans)
        assert label == (token if inside else IGNORE_INDEX), (tiny_tokenizer.decode([token]), begin)
    assert example.num_trained > 0 and example.num_trained < len(example)


@pytest.mark.parametrize("name", sorted(FALLBACK_TEMPLATES))
def test_fallback_templates_label_only_assistant_turns(tiny_model_dir: Path, name: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    assert choose_chat_template(tokenizer, name) == name
    example = encode_conversation(tokenizer, DIALOGUE)
    runs = [tokenizer.decode(run) for run in labelled_runs(example.input_ids, example.labels)]
    answers = [m["content"] for m in DIALOGUE if m["role"] == "assistant"]
    assert len(runs) == len(answers)
    for run, answer in zip(runs, answers, strict=True):
        assert run.strip().startswith(answer) and run.endswith(STOPS[name]), (name, run)
    context = tokenizer.decode(
        [t for t, lab in zip(example.input_ids, example.labels, strict=True) if lab == -100]
    )
    for message in DIALOGUE:
        if message["role"] != "assistant":
            assert message["content"] in context
            assert all(message["content"] not in run for run in runs)


def test_template_choice(tiny_model_dir: Path, tmp_path: Path) -> None:
    from worker.training.tiny_model import build_tiny_model

    own = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    assert choose_chat_template(own, "auto") == "model"
    bare = AutoTokenizer.from_pretrained(str(build_tiny_model(tmp_path / "bare", with_chat_template=False)))
    assert guess_fallback(bare) == "chatml"  # it has <|im_start|>
    assert guess_fallback(bare, "chatglm") == "chatml"  # special tokens outrank the model type
    assert choose_chat_template(bare, "auto") == "chatml"
    assert bare.chat_template == FALLBACK_TEMPLATES["chatml"]
    with pytest.raises(ValueError, match="vicuna"):
        choose_chat_template(bare, "vicuna")


def test_template_that_rewrites_history_is_refused(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    # Like templates that strip reasoning from earlier turns: the last message renders differently.
    tokenizer.chat_template = (
        "{% for m in messages %}{% if loop.last %}[last]{% endif %}"
        "{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    )
    with pytest.raises(DataError, match="fallback chat template"):
        encode_conversation(tokenizer, DIALOGUE)


def test_trailing_user_turn_is_dropped(tiny_tokenizer: Any) -> None:
    with_tail = encode_conversation(tiny_tokenizer, [*DIALOGUE, {"role": "user", "content": "谢谢"}])
    assert with_tail.input_ids == encode_conversation(tiny_tokenizer, DIALOGUE).input_ids


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        ([], "non-empty"),
        ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "alternate"),
        ([{"role": "bot", "content": "a"}], "role"),
        ([{"role": "user", "content": None}], "text"),
    ],
)
def test_bad_conversations_are_named(messages: list, problem: str) -> None:
    with pytest.raises(DataError, match=problem):
        check_messages(messages, "train.jsonl line 3")


def test_load_rows_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    good = json.dumps({"messages": DIALOGUE}, ensure_ascii=False)
    path.write_text(good + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2"):
        load_rows(path)
    path.write_text(good + "\n\n" + good + "\n", encoding="utf-8")
    assert len(load_rows(path)) == 2
