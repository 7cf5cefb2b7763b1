"""Answer multiple-choice questions with a causal LM: MMCU's reference protocol or a likelihood ranking.

* ``reference``: MMCU's own scripts (Felixgithub2017/MMCU TestChatGLM.py): the instruction
  请阅读以下选择题并给出正确选项，不要解释原因。请只给出答案的序号。, k dev examples, the question with
  options
  ``A. ...`` and 正确答案的序号是：; the model generates and the first run of distinct A-D letters is the
  answer
  (mmcu_scoring.extract_answer). Greedy decoding, so a rerun gives the same numbers (ChatGLM's ``chat``
  sampled).
* ``likelihood``: the same prompt, then every non-empty letter set (A, B, AB, ..., ABCD: 15 candidates, so
  multi-answer questions can be right) is scored by the summed log-probability of ``<letters><terminator>``
  (the terminator, a newline or the end-of-turn token, keeps "A" from always beating its extension "AB").
  One batched forward pass over the prompts builds the KV cache; the cache is repeated per candidate and one
  short pass scores all candidates (a few tokens each), instead of one generation loop per question.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from worker.evaluation.likelihood import score_candidates
from worker.evaluation.mmcu_data import McDataError, McQuestion
from worker.evaluation.mmcu_scoring import extract_answer

INSTRUCTION = "请阅读以下选择题并给出正确选项，不要解释原因。请只给出答案的序号。\n"
ANSWER_CUE = "\n正确答案的序号是："
CANDIDATES: tuple[str, ...] = tuple(
    "".join(c) for n in range(1, 5) for c in itertools.combinations("ABCD", n)
)
# MMCU's loader removes these from option cells, in this order (TestChatGLM.py format_example). Note that it
# also deletes every Latin capital A-D inside the option text ("DNA" -> "N"); ``faithful=True`` keeps that
# quirk because the published numbers were measured with it.
_MMCU_OPTION_REMOVALS = (" ．", "A、", "B、", "C、", "D、", "A.", "B.", "C.", "D.", "A", "B", "C", "D")
_MMCU_FULLWIDTH_REMOVALS = ("Ａ、", "Ｂ、", "Ｃ、", "Ｄ、")
_LEADING_PREFIXES = tuple(f"{a}{s}" for a in "ABCDＡＢＣＤ" for s in ("、", ".", "．", "："))

ProgressFn = Callable[[int, int], None]
StopFn = Callable[[], bool]


def clean_option(text: str, *, faithful: bool = True) -> str:
    """An option cell as MMCU's loader prints it (faithful), or with only a leading ``A、``-style prefix
    cut."""
    if faithful:
        for s in _MMCU_OPTION_REMOVALS + _MMCU_FULLWIDTH_REMOVALS:
            text = text.replace(s, "")
        return text.strip()
    text = text.strip()
    return text[2:].strip() if text.startswith(_LEADING_PREFIXES) else text


def format_question(q: McQuestion, *, with_answer: bool, faithful: bool = True) -> str:
    text = q.question
    for letter, option in zip("ABCD", q.options, strict=True):
        text += f"\n{letter}. {clean_option(option, faithful=faithful)}"
    text += ANSWER_CUE
    if with_answer:
        text += f" {q.answer}\n\n"
    return text


def build_prompt(q: McQuestion, shots: Sequence[McQuestion] = (), *, faithful: bool = True) -> str:
    """The MMCU prompt: instruction, k answered dev examples, then the question ending in
    正确答案的序号是："""
    return (
        INSTRUCTION
        + "".join(format_question(s, with_answer=True, faithful=faithful) for s in shots)
        + format_question(q, with_answer=False, faithful=faithful)
    )


def shots_for(q: McQuestion, dev: dict[str, list[McQuestion]], k: int) -> list[McQuestion]:
    """The first k dev questions of the question's workbook (MMCU: ``dev_df[:ntrain]``)."""
    if k <= 0:
        return []
    pool = dev.get(q.file)
    if not pool:
        raise McDataError(f"{k}-shot needs dev/{q.file}.xlsx, which is missing; use --shots 0 or add it")
    return pool[:k]


def _render(tokenizer: Any, prompt: str, use_chat_template: bool) -> str:
    if use_chat_template:
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    return prompt


def _prompts(
    tokenizer: Any,
    questions: Sequence[McQuestion],
    dev: dict[str, list[McQuestion]],
    shots: int,
    use_chat_template: bool | None,
    faithful: bool,
) -> tuple[list[str], bool]:
    chat = bool(getattr(tokenizer, "chat_template", None)) if use_chat_template is None else use_chat_template
    texts = [
        _render(tokenizer, build_prompt(q, shots_for(q, dev, shots), faithful=faithful), chat)
        for q in questions
    ]
    return texts, chat


def _length_order(tokenizer: Any, prompts: list[str], groups: list[str] | None = None) -> list[int]:
    # Batching prompts of similar length wastes less compute on padding; results are put back in order.
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    return sorted(range(len(prompts)), key=lambda i: (groups[i] if groups else "", lengths[i]))


def answer_reference(
    model: Any,
    tokenizer: Any,
    questions: Sequence[McQuestion],
    dev: dict[str, list[McQuestion]] | None = None,
    *,
    shots: int = 0,
    batch_size: int = 8,
    max_new_tokens: int = 32,
    use_chat_template: bool | None = None,
    faithful_options: bool = True,
    should_stop: StopFn | None = None,
    on_progress: ProgressFn | None = None,
) -> list[dict]:
    """MMCU's reference protocol. Returns one ``{"file", "sheet", "row", "answer", "raw"}`` per answered
    question (fewer when ``should_stop`` fired), in the input order."""
    from worker.evaluation.generation import generate_texts, resolve_generation

    prompts, chat = _prompts(tokenizer, questions, dev or {}, shots, use_chat_template, faithful_options)
    order = _length_order(tokenizer, prompts)
    settings = resolve_generation("greedy", {"max_new_tokens": max_new_tokens})
    texts = generate_texts(
        model,
        tokenizer,
        [prompts[i] for i in order],
        settings,
        batch_size=batch_size,
        templated=chat,
        should_stop=should_stop,
        on_batch=on_progress,
    )
    answered = {order[j]: t[0] for j, t in enumerate(texts)}
    return [
        {
            "file": q.file,
            "sheet": q.sheet,
            "row": q.row,
            "answer": extract_answer(answered[i]),
            "raw": answered[i],
        }
        for i, q in enumerate(questions)
        if i in answered
    ]


def candidate_texts(tokenizer: Any, chat: bool, candidates: Sequence[str] = CANDIDATES) -> list[str]:
    """What each letter set is scored as: ``A<eos>`` after a chat prompt, `` A\n`` after a raw one."""
    if chat:
        if tokenizer.eos_token is None:
            raise ValueError(
                "likelihood mode with a chat template needs the tokenizer's eos (end-of-turn) token"
            )
        return [f"{c}{tokenizer.eos_token}" for c in candidates]
    return [f" {c}\n" for c in candidates]  # as MMCU's k-shot examples write an answer: " ABD\n\n"


def answer_likelihood(
    model: Any,
    tokenizer: Any,
    questions: Sequence[McQuestion],
    dev: dict[str, list[McQuestion]] | None = None,
    *,
    shots: int = 0,
    batch_size: int = 4,
    use_chat_template: bool | None = None,
    faithful_options: bool = True,
    single_only: bool = False,
    share_prefix: bool = True,
    should_stop: StopFn | None = None,
    on_progress: ProgressFn | None = None,
) -> list[dict]:
    """Likelihood mode: the best of the 15 letter sets (or of A-D when ``single_only``) per question.
    Returns ``{"file", "sheet", "row", "answer", "logprob"}`` per answered question, in input order."""
    model.eval()
    candidates = CANDIDATES[:4] if single_only else CANDIDATES
    prompts, chat = _prompts(tokenizer, questions, dev or {}, shots, use_chat_template, faithful_options)
    texts = candidate_texts(tokenizer, chat, candidates)
    # k-shot prompts share their examples only within a file: batch by file so the shared prefix is long.
    order = _length_order(tokenizer, prompts, [q.file for q in questions] if shots else None)
    found: dict[int, dict] = {}
    for start in range(0, len(order), batch_size):
        if should_stop is not None and should_stop():
            break
        idx = order[start : start + batch_size]
        scores = score_candidates(
            model,
            tokenizer,
            [prompts[i] for i in idx],
            texts,
            add_special_tokens=not chat,
            share_prefix=share_prefix,
        )
        best = scores.argmax(-1).tolist()
        for row, (i, c) in enumerate(zip(idx, best, strict=True)):
            q = questions[i]
            found[i] = {
                "file": q.file,
                "sheet": q.sheet,
                "row": q.row,
                "answer": candidates[c],
                "logprob": float(scores[row, c]),
            }
        if on_progress is not None:
            on_progress(len(found), len(questions))
    return [found[i] for i in range(len(questions)) if i in found]
