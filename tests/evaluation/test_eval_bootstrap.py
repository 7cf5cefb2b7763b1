"""Paired bootstrap intervals: coverage of a known difference, noise vs real gains, corpus BLEU."""

from __future__ import annotations

import numpy as np
import pytest

from worker.evaluation.bootstrap import (
    compare_scores,
    paired_bootstrap_corpus_bleu,
    paired_bootstrap_mean_diff,
)


def test_interval_contains_true_gain_and_excludes_zero_when_large() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(20, 10, 400)
    b = a + 5 + rng.normal(0, 5, 400)  # true paired gain 5
    ci = paired_bootstrap_mean_diff(a, b)
    assert ci.low < 5 < ci.high
    assert ci.significant and ci.low > 0


def test_noise_at_40_prompts_is_not_significant() -> None:
    # Two systems of EQUAL quality, per-prompt BLEU-4 spread like real chat answers (sd ~ 8): the interval
    # must straddle 0 and be several points wide, as the issue measured (a gap of ~3 at 40 prompts is noise).
    rng = np.random.default_rng(1)
    base = rng.gamma(2.0, 4.0, 40)
    a = base + rng.normal(0, 6, 40)
    b = base + rng.normal(0, 6, 40)
    ci = paired_bootstrap_mean_diff(a, b)
    assert ci.low < 0 < ci.high
    assert ci.high - ci.low > 3


def test_pairing_matters() -> None:
    # Same items, b = a + 1 exactly: the paired interval is exactly [1, 1] no matter how spread a is.
    a = np.linspace(0, 100, 50)
    ci = paired_bootstrap_mean_diff(a, a + 1)
    assert ci.low == pytest.approx(1) and ci.high == pytest.approx(1)


def test_corpus_bleu_bootstrap() -> None:
    refs = [
        "今天天气很好我很开心",
        "你可以和朋友聊一聊",
        "焦虑是常见的情绪",
        "请再说说你的情况",
        "我理解你的感受",
    ] * 4
    worse = ["天气", "朋友", "情绪", "情况", "感受"] * 4
    ci = paired_bootstrap_corpus_bleu(worse, refs, refs, n_resamples=200)
    assert ci.diff > 50 and ci.significant
    same = paired_bootstrap_corpus_bleu(refs, refs, refs, n_resamples=200)
    assert same.diff == 0 and same.low == 0 == same.high


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap_mean_diff([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2"):
        paired_bootstrap_mean_diff([1], [2])
    with pytest.raises(ValueError, match="NaN"):
        paired_bootstrap_mean_diff([1, float("nan")], [2, 3])


def test_compare_scores_matches_items_by_key() -> None:
    keys = [["法律", "Sheet1", i] for i in range(60)]
    base = {
        "per_item": {
            "mmcu_correct": [0] * 60,
            "mmcu_keys": keys,
            "bleu4": [10.0, 20.0, 30.0],
            "bleu_ids": ["a", "b", "c"],
        }
    }
    # the tuned run lists the items in another order and got the first 30 questions right
    tuned = {
        "per_item": {
            "mmcu_correct": [1] * 30 + [0] * 30,
            "mmcu_keys": keys[::-1][30:] + keys[::-1][:30],
            "bleu4": [31.0, 11.0, 21.0],
            "bleu_ids": ["c", "a", "b"],
        }
    }
    result = compare_scores(base, tuned)
    assert result["mmcu_accuracy"]["diff"] == pytest.approx(0.5) and result["mmcu_accuracy"]["significant"]
    assert result["bleu4"]["diff"] == pytest.approx(1.0)
    assert compare_scores(base, {"per_item": {}}) == {}
