"""Generation and the MMCU harness on a tiny random Llama (real transformers code paths, CPU)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
import torch

from worker.evaluation.generation import generate_texts, render_prompt, resolve_generation, split_row
from worker.evaluation.likelihood import score_candidates
from worker.evaluation.mmcu_data import McDataError, read_questions
from worker.evaluation.mmcu_harness import (
    CANDIDATES,
    INSTRUCTION,
    answer_likelihood,
    answer_reference,
    build_prompt,
    candidate_texts,
    clean_option,
)


def test_course_config_batched_left_padded_no_warnings(tiny_model, caplog) -> None:
    model, tok = tiny_model
    prompts = [
        render_prompt(tok, [{"role": "user", "content": c}])[0]
        for c in ("你好", "今天天气怎么样？我想出去走走", "hi")
    ]
    settings = resolve_generation("course", {"max_new_tokens": 8})
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        out = generate_texts(model, tok, prompts, settings, batch_size=2)
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "attention mask" in m or "pad token" in m], messages
    assert [len(o) for o in out] == [3, 3, 3]
    assert tok.padding_side == "left"


def test_batched_greedy_equals_one_by_one(tiny_model) -> None:
    # Left padding + attention mask must not change what a prompt generates.
    model, tok = tiny_model
    prompts = [
        render_prompt(tok, [{"role": "user", "content": c}])[0]
        for c in ("你好", "今天天气怎么样？我想出去走走")
    ]
    settings = resolve_generation("greedy", {"max_new_tokens": 10})
    together = generate_texts(model, tok, prompts, settings, batch_size=2)
    alone = [generate_texts(model, tok, [p], settings, batch_size=1)[0] for p in prompts]
    assert together == alone


def test_generation_config_errors() -> None:
    with pytest.raises(ValueError, match="unknown generation preset"):
        resolve_generation("fast")
    with pytest.raises(ValueError, match="num_return_sequences"):
        resolve_generation("greedy", {"num_return_sequences": 3})
    with pytest.raises(ValueError, match="num_beam"):
        resolve_generation("course", {"num_beam": 5})
    assert "temperature" not in resolve_generation("course", {"temperature": 0.7}).generate_kwargs()


def test_split_row_uses_last_assistant_turn() -> None:
    row = {
        "id": "r1",
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
            {"role": "assistant", "content": "d"},
        ],
    }
    prompt, ref = split_row(row)
    assert ref == "d" and [m["content"] for m in prompt] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="r2"):
        split_row({"id": "r2", "messages": [{"role": "user", "content": "x"}]})


def test_reference_prompt_matches_mmcu_format(mmcu_sample: Path) -> None:
    questions, dev = read_questions(mmcu_sample)
    q = questions[0]
    prompt = build_prompt(q, dev[q.file][:2])
    assert prompt.startswith("请阅读以下选择题并给出正确选项，不要解释原因。请只给出答案的序号。\n")
    assert prompt.endswith("\n正确答案的序号是：")
    assert prompt.count("正确答案的序号是：") == 3
    assert f"正确答案的序号是： {dev[q.file][0].answer}\n\n" in prompt
    assert "\nA. " in prompt and "\nD. " in prompt
    assert clean_option("A、DNA病毒") == "N病毒"  # MMCU's loader quirk, kept for comparable numbers
    assert clean_option("A、DNA病毒", faithful=False) == "DNA病毒"


@pytest.mark.parametrize("share_prefix", [True, False])
def test_likelihood_scores_equal_full_forward(tiny_model, share_prefix: bool) -> None:
    """The cached, batched candidate scoring (shared prefix or left-padded) equals scoring each prompt +
    candidate in one plain forward pass."""
    model, tok = tiny_model
    prompts = [
        render_prompt(tok, [{"role": "user", "content": INSTRUCTION + t}])[0]
        for t in ("短问题", "一个长很多很多的问题，用来让填充真的发生作用，好吗？", "中等长度的问题呢")
    ]
    texts = candidate_texts(tok, True)
    fast = score_candidates(model, tok, prompts, texts, share_prefix=share_prefix)
    for i, p in enumerate(prompts):
        p_ids = tok(p, add_special_tokens=False)["input_ids"]
        for j, c in enumerate(texts[:6]):
            c_ids = tok(c, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([p_ids + c_ids])
            with torch.inference_mode():
                lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
            expected = sum(lp[len(p_ids) - 1 + k, t].item() for k, t in enumerate(c_ids))
            assert fast[i, j].item() == pytest.approx(expected, abs=1e-3)


def test_modes_answer_every_question(tiny_model, mmcu_sample: Path) -> None:
    model, tok = tiny_model
    questions, dev = read_questions(mmcu_sample)
    sample = questions[::40]
    progress: list[tuple[int, int]] = []
    lik = answer_likelihood(
        model, tok, sample, dev, shots=1, batch_size=4, on_progress=lambda a, b: progress.append((a, b))
    )
    assert [(x["file"], x["row"]) for x in lik] == [(q.file, q.row) for q in sample]
    assert all(x["answer"] in CANDIDATES for x in lik)
    assert progress[-1] == (len(sample), len(sample))
    ref = answer_reference(model, tok, sample, dev, shots=0, batch_size=4, max_new_tokens=4)
    assert len(ref) == len(sample) and all(set(x["answer"]) <= set("ABCD") for x in ref)
    stopped = answer_likelihood(model, tok, sample, dev, batch_size=2, should_stop=lambda: True)
    assert stopped == []
    with pytest.raises(McDataError, match="dev/"):
        answer_likelihood(model, tok, sample, {}, shots=1)
