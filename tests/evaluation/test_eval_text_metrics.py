"""BLEU / ROUGE against the libraries themselves on fixed pairs (exact equality)."""

from __future__ import annotations

import logging
import math

import jieba
import pytest
from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu
from rouge_chinese import Rouge

from worker.evaluation.collapse import repetition_ratio
from worker.evaluation.text_metrics import (
    BLEU_WEIGHTS,
    MetricInputError,
    bleu_scores,
    llamafactory_scores,
    rouge_scores,
    tokenize,
)

jieba.setLogLevel(logging.CRITICAL)

PREDICTIONS = [
    "我今天很开心，因为天气很好。",
    "你可以试着和朋友聊一聊，说出你的感受。",
    "焦虑是一种常见的情绪反应。",
    "",
]
REFERENCES = [
    "今天天气很好，我很开心。",
    "试着把你的感受告诉信任的朋友，也许会好一些。",
    "焦虑是人面对压力时常见的情绪。",
    "请再说说你的情况。",
]


def test_char_bleu_equals_nltk_sentence_and_corpus() -> None:
    result = bleu_scores(PREDICTIONS, REFERENCES, tokenization="char", smoothing="method3")
    smooth = SmoothingFunction().method3
    for name, weights in BLEU_WEIGHTS.items():
        expected = [
            100 * sentence_bleu([list(r)], list(p), weights=weights, smoothing_function=smooth)
            for p, r in zip(PREDICTIONS, REFERENCES, strict=True)
        ]
        assert result["per_item"][name] == expected
        assert result["sentence"][name] == sum(expected) / len(expected)
        corpus = corpus_bleu(
            [[list(r)] for r in REFERENCES],
            [list(p) for p in PREDICTIONS],
            weights=weights,
            smoothing_function=smooth,
        )
        assert result["corpus"][name] == 100 * corpus


def test_jieba_bleu_without_smoothing_equals_nltk() -> None:
    result = bleu_scores(PREDICTIONS[:3], REFERENCES[:3], tokenization="jieba", smoothing="none")
    hyps = [[w for w in jieba.cut(p) if w.strip()] for p in PREDICTIONS[:3]]
    refs = [[w for w in jieba.cut(r) if w.strip()] for r in REFERENCES[:3]]
    expected = [100 * sentence_bleu([r], h, weights=(0.5, 0.5)) for h, r in zip(hyps, refs, strict=True)]
    assert result["per_item"]["bleu2"] == pytest.approx(expected, abs=0, rel=0)
    assert tokenize("我 爱 北京", "jieba") == ["我", "爱", "北京"]


def test_llamafactory_numbers_reproduced_exactly() -> None:
    # hiyouga/LLaMA-Factory scripts/eval_bleu_rouge.py, computed here independently per sample.
    sums = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0, "bleu-4": 0.0}
    for p, r in zip(PREDICTIONS, REFERENCES, strict=True):
        hyp, ref = list(jieba.cut(p)), list(jieba.cut(r))
        bleu = sentence_bleu([list(r)], list(p), smoothing_function=SmoothingFunction().method3)
        if len(" ".join(hyp).split()) == 0 or len(" ".join(ref).split()) == 0:
            scores = {"rouge-1": {"f": 0.0}, "rouge-2": {"f": 0.0}, "rouge-l": {"f": 0.0}}
        else:
            scores = Rouge().get_scores(" ".join(hyp), " ".join(ref))[0]
        for k in ("rouge-1", "rouge-2", "rouge-l"):
            sums[k] += round(scores[k]["f"] * 100, 4)
        sums["bleu-4"] += round(bleu * 100, 4)
    expected = {k: v / len(PREDICTIONS) for k, v in sums.items()}
    assert llamafactory_scores(PREDICTIONS, REFERENCES) == expected


def test_rouge_equals_rouge_chinese() -> None:
    result = rouge_scores(PREDICTIONS[:3], REFERENCES[:3])
    for i, (p, r) in enumerate(zip(PREDICTIONS[:3], REFERENCES[:3], strict=True)):
        scores = Rouge().get_scores(" ".join(jieba.cut(p)), " ".join(jieba.cut(r)))[0]
        assert result["per_item"]["rouge-l"][i] == scores["rouge-l"]["f"] * 100
    assert result["per_item"]["rouge-1"][0] > 0


def test_identical_text_scores_100_and_unrelated_near_0() -> None:
    same = bleu_scores(["今天天气很好"], ["今天天气很好"])
    assert math.isclose(same["sentence"]["bleu4"], 100.0)
    other = bleu_scores(["完全不同的回答"], ["今天天气很好"], smoothing="none")
    assert other["sentence"]["bleu4"] == 0.0


@pytest.mark.parametrize(
    ("preds", "refs", "kwargs", "message"),
    [
        (["a"], ["a", "b"], {}, "pair one to one"),
        ("abc", ["a"], {}, "not one string"),
        (["a"], ["a"], {"smoothing": "method9"}, "unknown smoothing"),
        (["a"], ["a"], {"tokenization": "words"}, "unknown tokenization"),
        ([], [], {}, "no prediction"),
    ],
)
def test_bad_input_named(preds, refs, kwargs, message) -> None:
    with pytest.raises(MetricInputError, match=message):
        bleu_scores(preds, refs, **kwargs)


def test_repetition_ratio() -> None:
    assert repetition_ratio("的的的的的的的的的的") > 0.8
    assert repetition_ratio("今天天气很好我们去公园") == 0.0
